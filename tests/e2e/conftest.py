"""What the end-to-end suite shares: the real adapters (from the registry), the steps' timings, Chromium.

The adapters under test are every adapter the registry holds that has an ``install``
(an agent cab installs and runs for real); ``command`` and ``mini`` have none and are not
real agents.  A new adapter gets the whole suite by being registered.

Every step records its seconds; at the end the suite prints the table adapter × step and
writes it to ``test-artifacts/e2e/timings.md`` (and ``.json``).
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import ROOT, in_ci, require_browser  # noqa: F401  (re-exported to the e2e tests)

ARTIFACTS = ROOT / "test-artifacts" / "e2e"
STEPS = ("sweep", "summary", "report", "browser", "replay", "docker")


def real_adapters() -> list[str]:
    """Every registered adapter with an ``install``: the real agents, found as a user's cab finds them."""
    from cab_core.plugins import get_plugin_manager
    from cab_core.registry import Registry

    registry = Registry(get_plugin_manager())
    return sorted(a.name for a in registry.adapters if a.install is not None)


#: (adapter, step) of the steps that failed: a later step of that adapter says so instead of running.
FAILED: set[tuple[str, str]] = set()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    params = getattr(getattr(item, "callspec", None), "params", {})
    if report.when == "call" and report.failed and "adapter" in params:
        FAILED.add((params["adapter"], item.originalname.removeprefix("test_")))


#: (adapter, step) -> seconds, filled as the steps run.
TIMINGS: dict[tuple[str, str], float] = {}


@contextmanager
def timed(adapter: str, step: str):
    t0 = time.monotonic()
    try:
        yield
    finally:
        TIMINGS[(adapter, step)] = TIMINGS.get((adapter, step), 0.0) + time.monotonic() - t0


def timings_table() -> str:
    adapters = sorted({a for a, _ in TIMINGS})
    steps = [s for s in STEPS if any((a, s) in TIMINGS for a in adapters)]
    steps += sorted({s for _, s in TIMINGS} - set(steps))
    lines = ["| adapter | " + " | ".join(steps) + " | total |", "|---" * (len(steps) + 2) + "|"]
    for a in adapters:
        cells = [f"{TIMINGS[(a, s)]:.1f}" if (a, s) in TIMINGS else "–" for s in steps]
        total = sum(TIMINGS.get((a, s), 0.0) for s in steps)
        lines.append(f"| {a} | " + " | ".join(cells) + f" | {total:.1f} |")
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    table = timings_table()
    terminalreporter.write_sep("=", "end-to-end: seconds per adapter and step")
    terminalreporter.write_line(table)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timings.md").write_text(table + "\n")
    (ARTIFACTS / "timings.json").write_text(json.dumps(
        [{"adapter": a, "step": s, "seconds": round(v, 2)} for (a, s), v in sorted(TIMINGS.items())], indent=2))




@pytest.fixture(scope="session")
def e2e_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e")
