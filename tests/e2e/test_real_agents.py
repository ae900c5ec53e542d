"""Every real adapter through every feature, as a user runs them: sweep → summary → report → browser → replay → docker.

The adapters are the registry's with an ``install`` (see ``conftest.real_adapters``), so an
adapter added later gets every step by being registered.  Each step is one test
parametrised by adapter, so a failure names both.  The steps of one adapter share a
results folder; a later step that needs an earlier one's output fails fast, naming it.

1. **sweep**: ``cab sweep`` of scripted/oracle and scripted/noop on a Python and a Rust
   task: every cell ``ok``, oracle passes, noop fails; the proxy's token count is non-zero
   and the protocol's own (never estimated), and the agent's own count agrees where it
   prints one.
2. **summary**: ``cab summary --json``: oracle's pass rate 1, noop's 0.
3. **report**: ``cab report`` over every adapter's sweep writes a page per cell.
4. **browser**: every cell page and the sweep page opened in Debian's headless Chromium
   (through Playwright): no console errors, the axes visible, the terminal player and the
   model-calls table present.
5. **replay**: one cell recorded to a cassette, then replayed with the endpoint down
   (``--endpoint http://127.0.0.1:9/v1``): identical per-axis values (latency and the
   composite, which folds latency in, measure this run's clock and are left out) and
   identical request hashes.
6. **docker**: the same cell under ``--sandbox docker`` with the host's agent cache empty
   (``CAB_AGENTS_DIR`` pointed at an empty folder): the agent comes from its image.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import run_cab

from .conftest import ARTIFACTS, FAILED, TIMINGS, in_ci, real_adapters, timed

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADAPTERS = real_adapters()
#: A Python and a Rust task (the agents' tools do not depend on the language; the verdict
#: channels of every language are the hostile suite's and test_verdict's).
TASKS = ("polyglot/python-slugify", "polyglot/rust-error-handling")
MODELS = ("scripted/oracle", "scripted/noop")
#: The cell the replay and docker steps run.
CELL_TASK = "polyglot/python-slugify"
#: Axes that measure this run's clock: they differ between two runs of the same cell.
CLOCK_AXES = ("latency", "composite")
JOBS = 2

def test_the_registry_has_real_adapters():
    assert ADAPTERS, "no registered adapter has an install: is cab-adapters installed?"
    assert {"pi", "aider", "opencode"} <= set(ADAPTERS), ADAPTERS
    assert not {"command", "mini"} & set(ADAPTERS)


def _step(adapter: str, step: str, needs: tuple[str, ...] = ()):
    for earlier in needs:
        if (adapter, earlier) in FAILED:
            pytest.fail(f"{adapter}: the {earlier} step failed, so the {step} step cannot run")
    return timed(adapter, step)


def results_of(root: Path) -> Path:
    return root / "results"


def sweep_id(adapter: str) -> str:
    return f"e2e-{adapter}"


def cells_of(root: Path, adapter: str) -> dict[tuple[str, str], dict]:
    """The sweep's cell records by (model, task)."""
    out = {}
    for path in (results_of(root) / sweep_id(adapter)).rglob("cell.json"):
        cell = json.loads(path.read_text())
        out[(cell["identity"]["model"], cell["identity"]["task"])] = cell
    return out


def _explain(cell: dict) -> str:
    scores = cell.get("scores") or {}
    tail = (scores.get("pass_rate") or {}).get("breakdown", {}).get("stdout_tail", "")
    return f"status {cell.get('status')} error {cell.get('error')!r} exit {cell.get('exit_code')} tests: {str(tail)[-600:]}"


# --------------------------------------------------------------------------- 1. sweep


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_sweep(e2e_root, adapter):
    with _step(adapter, "sweep"):
        proc = run_cab("sweep", "--adapters", adapter, "--models", ",".join(MODELS), "--tasks", ",".join(TASKS),
                       "--jobs", JOBS, "--sweep-id", sweep_id(adapter), "--results", results_of(e2e_root),
                       "--timeout", 300, "--retries", 0, timeout=1800)
    cells = cells_of(e2e_root, adapter)
    assert set(cells) == {(m, t) for m in MODELS for t in TASKS}, (proc.stdout[-2000:], proc.stderr[-2000:])
    for (model, task), cell in sorted(cells.items()):
        assert cell["status"] == "ok", f"{adapter} {model} {task}: {_explain(cell)}"
        passed = cell["scores"]["pass_rate"]["value"]
        assert passed == (1 if model == "scripted/oracle" else 0), f"{adapter} {model} {task}: {_explain(cell)}"
        assert cell["model_calls"] and all(c["status"] == 200 for c in cell["model_calls"]), f"{adapter} {model} {task}"
        calls = cell["model_calls"]
        assert all(c["prompt_tokens"] > 0 and c.get("usage_source") == "reported" for c in calls), \
            f"{adapter} {model} {task}: token counts {[(c['prompt_tokens'], c.get('usage_source')) for c in calls]}"
        own = cell.get("agent_tokens") or {}
        if own.get("reported"):
            assert own.get("agrees") is True, f"{adapter} {model} {task}: the agent's own count {own}"
    assert proc.returncode == 0, proc.stderr[-2000:]
    _normalised_as_in_one_pass(results_of(e2e_root) / sweep_id(adapter), e2e_root / "renormalised" / sweep_id(adapter))


def _normalised_as_in_one_pass(sweep: Path, scratch: Path) -> None:
    """The sweep's records are, byte for byte, what one normalisation over the finished sweep writes
    (it is normalised beside its last cell, and the close writes only what that cell changed)."""
    import shutil

    from cab_core.cli import State, _default_pm
    from cab_core.results import CELL_FILE, iter_cell_dirs
    from cab_core.sweep import normalise

    shutil.copytree(sweep, scratch)
    for folder in iter_cell_dirs(scratch):  # each cell as it was written, on its own
        data = json.loads((folder / CELL_FILE).read_text())
        composite = data["scores"].get("composite")
        if composite and "normalisation" in composite["breakdown"]:
            composite["value"] = composite["breakdown"].pop("normalisation")["cell_composite"]
        (folder / CELL_FILE).write_text(json.dumps(data, indent=2, ensure_ascii=False))
    state = State(_default_pm)
    normalise(scratch, state.registry, state.catalog())
    for folder in iter_cell_dirs(sweep):
        assert (folder / CELL_FILE).read_text() == (scratch / folder.relative_to(sweep) / CELL_FILE).read_text(), folder


# --------------------------------------------------------------------------- 2. summary


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_summary(e2e_root, adapter):
    with _step(adapter, "summary", needs=("sweep",)):
        proc = run_cab("summary", sweep_id(adapter), "--results", results_of(e2e_root), "--json", check=True)
        text = run_cab("summary", sweep_id(adapter), "--results", results_of(e2e_root), check=True).stdout
    data = json.loads(proc.stdout)
    board = {(row["adapter"], row["model"]): row for row in data["leaderboard"]}
    assert set(board) == {(adapter, m) for m in MODELS}, board
    oracle, noop = board[(adapter, "scripted/oracle")], board[(adapter, "scripted/noop")]
    assert (oracle["passes"], oracle["scored"], oracle["pass_rate"]) == (len(TASKS), len(TASKS), 1.0), oracle
    assert (noop["passes"], noop["pass_rate"], noop["infra_errors"]) == (0, 0.0, 0), noop
    assert adapter in text and "scripted/oracle" in text


# --------------------------------------------------------------------------- 3. report, 4. browser


def _site(e2e_root: Path) -> Path:
    return e2e_root / "site"


@pytest.fixture(scope="module")
def report(e2e_root):
    """``cab report`` over every adapter's sweep (built once, after all sweeps)."""
    t0 = time.monotonic()
    proc = run_cab("report", results_of(e2e_root), "--out", _site(e2e_root), timeout=600)
    return proc, time.monotonic() - t0


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_report(e2e_root, report, adapter):
    with _step(adapter, "report", needs=("sweep",)):
        proc, seconds = report
    TIMINGS[(adapter, "report")] = seconds / max(1, len(ADAPTERS))  # one build for all: its share
    assert proc.returncode == 0, f"cab report failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    site = _site(e2e_root)
    pages = list((site / "cells" / sweep_id(adapter)).rglob("index.html"))
    assert len(pages) == len(MODELS) * len(TASKS), pages
    assert (site / "sweeps" / sweep_id(adapter) / "index.html").is_file()


def _open(browser, path: Path, shot: Path) -> list[str]:
    """Open ``path``; check what every page must show; the console errors and page errors seen."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
        page.goto(path.resolve().as_uri())
        page.wait_for_selector("html[data-ready='1']", state="attached", timeout=30000)
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=False)
        if "/cells/" in path.as_posix():
            axes = page.locator("section.axes .axis")
            assert axes.count() >= 7, f"{path}: {axes.count()} axes"
            for i in range(axes.count()):
                assert axes.nth(i).is_visible(), f"{path}: axis {axes.nth(i).get_attribute('data-axis')} hidden"
                assert axes.nth(i).locator(".axis-value").inner_text().strip(), path
            assert page.locator('[data-testid="player"]').count() == 1, f"{path}: no terminal player"
            assert page.locator(".player .term").count() >= 1, f"{path}: the player drew no terminal"
            calls = page.locator('table[data-testid="calls"] tbody tr')
            assert calls.count() >= 1, f"{path}: no model-calls table"
        else:
            assert page.locator('[data-testid="leaderboard"]').count() == 1, f"{path}: no leaderboard"
            assert page.locator('[data-testid="matrix"] a.mc').count() >= 1, f"{path}: no matrix"
        return errors
    finally:
        context.close()


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_browser(e2e_root, report, chromium, adapter):
    site = _site(e2e_root)
    with _step(adapter, "browser", needs=("report",)):
        pages = sorted((site / "cells" / sweep_id(adapter)).rglob("index.html"))
        pages.append(site / "sweeps" / sweep_id(adapter) / "index.html")
        problems = {}
        for path in pages:
            rel = path.relative_to(site)
            errors = _open(chromium, path, ARTIFACTS / "pages" / (str(rel.parent).replace("/", "_") + ".png"))
            if errors:
                problems[str(rel)] = errors
    assert len(pages) == len(MODELS) * len(TASKS) + 1
    assert problems == {}, json.dumps(problems, indent=2)[:4000]


# --------------------------------------------------------------------------- 5. replay


def _run_json(*args, env=None, timeout=600) -> dict:
    proc = run_cab("run", *args, "--json", env=env, timeout=timeout)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"cab run {' '.join(map(str, args))} exited {proc.returncode} without a record:\n"
                    f"{proc.stdout[-1500:]}\n{proc.stderr[-2500:]}")


def _axes(cell: dict) -> dict:
    return {name: s["value"] for name, s in cell["scores"].items() if name not in CLOCK_AXES}


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_replay(e2e_root, adapter):
    results = e2e_root / "replay" / adapter
    cassette = results / "cassette.jsonl"
    common = ("--adapter", adapter, "--model", "scripted/oracle", "--task", CELL_TASK, "--results", results,
              "--timeout", 300)
    with _step(adapter, "replay"):
        recorded = _run_json(*common, "--sweep-id", "recorded", "--record-cassette", cassette)
        assert recorded["status"] == "ok" and recorded["scores"]["pass_rate"]["value"] == 1, _explain(recorded)
        assert cassette.is_file() and cassette.stat().st_size > 0
        replayed = _run_json(*common, "--sweep-id", "replayed", "--replay-cassette", cassette,
                             "--endpoint", "http://127.0.0.1:9/v1")
    assert replayed["status"] == "ok", f"{adapter} replay: {_explain(replayed)}"
    assert _axes(replayed) == _axes(recorded), f"{adapter}: per-axis values differ on replay"
    hashes = [c["request_hash"] for c in recorded["model_calls"]]
    assert [c["request_hash"] for c in replayed["model_calls"]] == hashes, f"{adapter}: request hashes differ"
    assert all(c["status"] == 200 for c in replayed["model_calls"])


# --------------------------------------------------------------------------- 6. docker


def _docker_ready(adapter: str) -> None:
    from cab_core import images
    from cab_core.plugins import get_plugin_manager
    from cab_core.registry import Registry

    reason = images.unavailable_reason()
    if reason is None:
        tag = images.adapter_image(Registry(get_plugin_manager()).adapters.get(adapter))
        try:
            images.client().images.get(tag)
        except Exception:
            reason = f"image {tag} is not built (cab images build --adapter {adapter})"
    if reason:
        if in_ci():
            pytest.fail(f"the docker step cannot run in CI: {reason}")
        pytest.skip(reason)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_docker(e2e_root, adapter):
    _docker_ready(adapter)
    empty = e2e_root / "no-agents" / adapter
    empty.mkdir(parents=True)
    env = {"CAB_AGENTS_DIR": str(empty)}  # the agent is absent from the host's cache
    proc = run_cab("agents", "list", "--json", env=env, check=True)
    assert not {r["name"]: r["installed"] for r in json.loads(proc.stdout)}[adapter]
    with _step(adapter, "docker"):
        cell = _run_json("--adapter", adapter, "--model", "scripted/oracle", "--task", CELL_TASK, "--sandbox", "docker",
                         "--results", e2e_root / "docker" / adapter, "--timeout", 300, env=env)
    assert cell["status"] == "ok", f"{adapter} under docker: {_explain(cell)}"
    assert cell["sandbox"] == "docker" and cell["image_digest"], cell.get("container_image")
    assert cell["scores"]["pass_rate"]["value"] == 1, _explain(cell)
    assert cell["agent_tokens"].get("agrees") in (True, None), cell["agent_tokens"]
    assert list(empty.iterdir()) == [], "the docker step wrote into the host's agent cache"
