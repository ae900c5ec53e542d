"""Shared helpers for cab's own tests (fixtures for plugin authors live in cab_core.testing)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cab_core.testing import run_cab_in_process

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CAB = str(VENV_BIN / "cab")


def run_cab_process(*args, env=None, cwd=None, timeout=300, check=False):
    """Run the installed ``cab`` console script as a user would (for tests of the script itself)."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([CAB, *map(str, args)], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"cab {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_python_json(code: str, **env) -> dict:
    """Run ``code`` in a fresh interpreter (``env`` added to this one's) and return the JSON of its last line."""
    import json

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, **env})
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_cab(*args, env=None, cwd=None, timeout=300, check=False):
    """Run ``cab`` in this process (:func:`cab_core.testing.run_cab_in_process`): the same command line,
    environment additions and working folder as :func:`run_cab_process`, without a new interpreter per call.
    ``timeout`` is accepted for the same signature; a call in this process is not cut off."""
    return run_cab_in_process(*args, env=env, cwd=cwd, check=check)


@pytest.fixture
def cab():
    return run_cab


# ----------------------------------------------------------------------------- read-only things, built once


@pytest.fixture(scope="session")
def builtin_registry():
    """The registry of the installed plugins, built once per session (about 0.15 s a build).

    For tests that only read it: one that registers a plugin builds its own manager.
    """
    from cab_core.plugins import get_plugin_manager
    from cab_core.registry import Registry

    return Registry(get_plugin_manager())


@pytest.fixture(scope="session")
def builtin_catalog(builtin_registry):
    """The built-in task catalog, loaded once per session: its tasks are frozen records, so sharing them is safe."""
    from cab_core.tasks import TaskCatalog

    return TaskCatalog(builtin_registry)


# ----------------------------------------------------------------------------- keeping the quick loop quick

#: An unmarked test over this many seconds (setup, call and teardown) is listed at the end of a quick-loop run.
SLOW_SECONDS = 2.0
_seconds: dict[str, float] = {}


def _quick_loop(config) -> bool:
    return "not slow" in (config.getoption("markexpr", "") or "")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """A test that opens Chromium is slow wherever it is written: the quick loop never starts a browser."""
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()) and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)


def pytest_runtest_logreport(report):
    """Add up each test's phases (under pytest-xdist the workers' reports arrive here too)."""
    _seconds[report.nodeid] = _seconds.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter, config):
    """In the quick loop (``-m "not slow"``), name the tests that took over SLOW_SECONDS: mark them slow or make them cheaper."""
    if not _quick_loop(config):
        return
    over = sorted(((s, n) for n, s in _seconds.items() if s > SLOW_SECONDS), reverse=True)
    if over:
        terminalreporter.write_sep("-", f"{len(over)} unmarked test(s) over {SLOW_SECONDS:g} s: @pytest.mark.slow or make them cheaper")
        for seconds, nodeid in over:
            terminalreporter.write_line(f"{seconds:6.1f} s  {nodeid}")


# ----------------------------------------------------------------------------- one browser per session

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_browser():
    """Skip locally, fail in CI, when Playwright or Debian's Chromium is missing."""
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed (scripts/install-browser.sh)"
    if reason is None and not os.access(CHROMIUM, os.X_OK):
        reason = f"{CHROMIUM} is missing (run scripts/install-browser.sh)"
    if reason:
        if in_ci():
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium():
    """Debian's headless Chromium through Playwright, one for the whole session.

    Playwright's sync API allows one running instance per thread: a second ``sync_playwright()``
    while the first is open fails with "using Playwright Sync API inside the asyncio loop", so
    every browser test shares this one.
    """
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
