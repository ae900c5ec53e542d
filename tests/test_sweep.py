"""Sweeps: the matrix, sweep files, resume, normalisation, the index, the summary, and the executors.

Fast tests drive :func:`run_sweep` with a fake executor that publishes made-up cells
(scored by the real scorers); the slow ones run real cells through the CLI, kill a
coordinator with SIGKILL, and run the same sweep on Dask (a LocalCluster, and
``dask scheduler`` / ``dask worker`` processes on 127.0.0.1).
"""

import json
import os
import signal
import sqlite3
import subprocess
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
from click.testing import CliRunner

from cab_core.cli import make_cli
from cab_core.index import INDEX_FILE, Index, ensure
from cab_core.models import CellResult, FileChanges, ModelCall, ProcessResult, ScoreContext, utcnow
from cab_core.results import CELL_FILE, CellWriter, iter_cell_dirs, read_cell
from cab_core.runner import Runner, score_all
from cab_core.secrets import Redactor
from cab_core.sweep import (
    ATTEMPTS_FILE,
    MANIFEST_FILE,
    SweepObserver,
    build_spec,
    cell_id_of,
    load_sweep_file,
    read_attempts,
    normalise,
    parse_models,
    plan_cells,
    run_sweep,
)
from cab_core.tasks import TaskCatalog
from cab_core.testing import write_task

from conftest import VENV_BIN, run_cab

PY = "polyglot/python-slugify"
JS = "polyglot/js-deep-merge"
#: Seven fast built-in tasks (Python and JS) plus demo/add, written by the test: eight.
MATRIX_TASKS = "polyglot/python-*,polyglot/js-*,demo/*"
MATRIX = ["--adapters", "command,mini", "--models", "command=oracle,noop", "--models", "mini=scripted/oracle,scripted/noop",
          "--tasks", MATRIX_TASKS, "--trials", "2"]


@pytest.fixture(scope="module")
def registry(builtin_registry):
    return builtin_registry


@pytest.fixture(scope="module")
def catalog(builtin_catalog):
    return builtin_catalog


# --------------------------------------------------------------------------- a fake executor


def fake_cell(registry, catalog, opts, *, passed=True, wall_ms=1000.0, tokens=0, status="ok", refuse=False, agent_ms=None):
    """Publish a made-up cell scored by the real scorers; return its folder.

    ``agent_ms`` is the agent's launch span (default: all of ``wall_ms``).
    """
    task = catalog.get(opts.task)
    cell = cell_id_of(opts)
    calls = [ModelCall(index=0, timestamp=utcnow(), request_hash="h", prompt_tokens=tokens, total_tokens=tokens)] if tokens else []
    verify = ProcessResult(exit_code=0 if passed else 1, output="1 passed in 0.01s" if passed else "1 failed in 0.01s")
    ctx = ScoreContext(task=task, cell=cell, launch=ProcessResult(exit_code=0, duration_ms=wall_ms if agent_ms is None else agent_ms), verify=verify, changes=FileChanges(),
                       model_calls=calls, wall_clock_ms=wall_ms, final_output="I can't help with that." if refuse else "done")
    scores = score_all(registry, ctx) if status == "ok" else {}
    now = utcnow()
    result = CellResult(cell_id=cell.cell_id, identity=cell, status=status, error=None if status == "ok" else "endpoint down",
                        started_at=now, ended_at=now, duration_s=wall_ms / 1000, scores=scores, model_calls=calls,
                        final_output=ctx.final_output)
    return result, CellWriter(opts.results, cell.relpath, Redactor()).publish(result)


class FakeExecutor:
    """Runs 'cells' synchronously from a behaviour function; records what was submitted."""

    name = "fake"
    slots = 3

    def __init__(self, registry, catalog, behave):
        self.registry, self.catalog, self.behave = registry, catalog, behave
        self.submitted = []
        self.closed = False

    def submit(self, opts):
        self.submitted.append(cell_id_of(opts).cell_id)
        fut = Future()
        try:
            kw = self.behave(opts, self.submitted.count(cell_id_of(opts).cell_id))
            result, folder = fake_cell(self.registry, self.catalog, opts, **kw)
            fut.set_result({"status": result.status, "passed": result.passed, "error": result.error,
                            "duration_s": result.duration_s, "path": str(folder), "worker": "fake"})
        except Exception as exc:
            fut.set_exception(exc)
        return fut

    def wait(self, handles, timeout):
        return [h for h in handles if h.done()]

    def result(self, handle):
        return handle.result()

    def close(self, wait=True):
        self.closed = True


def spec_for(tmp_path, **kw):
    layer = {"sweep_id": "s", "adapters": ["command"], "models": ["oracle", "noop"], "tasks": [PY, JS],
             "results": tmp_path / "results", **kw}
    return build_spec(layer)


def cell_dirs(root):
    return sorted(str(p.relative_to(root)) for p in iter_cell_dirs(root))


# --------------------------------------------------------------------------- the matrix and the sweep file


def test_models_for_every_adapter_or_per_adapter():
    common, per = parse_models(["m1,m2", "mini=scripted/oracle,scripted/noop", "mini=x"])
    assert common == ["m1", "m2"] and per == {"mini": ["scripted/oracle", "scripted/noop", "x"]}
    spec = build_spec({"adapters": ["command", "mini"], "models": common, "adapter_models": per, "tasks": ["t"],
                       "sweep_id": "x"})
    assert spec.pairs() == [("command", "m1"), ("command", "m2"), ("mini", "scripted/oracle"), ("mini", "scripted/noop"),
                            ("mini", "x")]
    # Per-adapter models alone name the adapters.
    only = build_spec({"adapter_models": {"a": ["1"], "b": ["2"]}, "tasks": ["t"]})
    assert only.adapters == ("a", "b") and only.sweep_id.startswith("sweep-")
    from cab_core.errors import CabError

    with pytest.raises(CabError, match="adapter 'pi' has no models"):
        build_spec({"adapters": ["pi", "a"], "adapter_models": {"a": ["1"]}, "tasks": ["t"]})
    with pytest.raises(CabError, match="field sweep_id"):
        build_spec({"adapters": ["a"], "models": ["m"], "tasks": ["t"], "sweep_id": "../up"})


def test_plan_is_trial_major_and_covers_the_matrix(tmp_path, catalog):
    spec = spec_for(tmp_path, trials=2)
    cells = plan_cells(spec, [JS, PY])
    assert len(cells) == 2 * 2 * 2
    assert [(c.trial, c.task, c.model) for c in cells[:4]] == [(1, JS, "oracle"), (1, JS, "noop"), (1, PY, "oracle"), (1, PY, "noop")]
    assert all(c.results.is_absolute() and c.sweep_id == "s" for c in cells)


def test_sweep_file_then_flags_override(tmp_path):
    f = tmp_path / "exp" / "nightly.toml"
    f.parent.mkdir()
    f.write_text('sweep_id = "nightly"\nadapters = ["command", "mini"]\ntasks = ["polyglot/python-*"]\ntrials = 3\n'
                 'jobs = 2\nresults = "out"\nretries = 1\n[models]\ncommand = ["oracle", "noop"]\nmini = ["scripted/oracle"]\n'
                 '[options]\n"guidance.text" = "be brief"\n')
    layer = load_sweep_file(f)
    assert layer["results"] == f.parent / "out" and layer["source"] == str(f.resolve())
    spec = build_spec(layer, {"trials": 1, "adapter_models": {"mini": ["scripted/noop"]}, "options": {"x": "1"}})
    assert spec.trials == 1 and spec.jobs == 2 and spec.retries == 1 and spec.sweep_id == "nightly"
    assert spec.models_for("command") == ("oracle", "noop") and spec.models_for("mini") == ("scripted/noop",)
    assert spec.options == {"guidance.text": "be brief", "x": "1"}


@pytest.mark.parametrize("body, field", [
    ('trials = "two"', "trials"),
    ("trails = 2", "trails"),
    ('models = 3', "models"),
    ('executor = "slurm"', "executor"),
    ("jobs = 0", "jobs"),
    ('adapters = "command"\nsandbox = 4', "sandbox"),
])
def test_bad_sweep_file_is_one_line_naming_file_and_field(tmp_path, body, field):
    f = tmp_path / "bad.toml"
    f.write_text(body + "\n")
    res = CliRunner().invoke(make_cli(), ["sweep", str(f)])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and str(f) in lines[0] and field in lines[0], res.output


def test_sweep_file_that_is_not_toml(tmp_path):
    f = tmp_path / "broken.toml"
    f.write_text("adapters = [\n")
    res = CliRunner().invoke(make_cli(), ["sweep", str(f)])
    assert res.exit_code == 2 and f"{f}: not valid TOML" in res.output


def test_unknown_adapter_is_a_user_error_before_any_cell(tmp_path):
    res = CliRunner().invoke(make_cli(), ["sweep", "--adapters", "pii", "--models", "m", "--tasks", PY,
                                          "--results", str(tmp_path)])
    assert res.exit_code == 2 and "unknown adapter 'pii'" in res.output
    assert not list(tmp_path.rglob(CELL_FILE))


def test_the_manifest_records_the_matrix_and_resume_finds_the_latest_sweep(tmp_path, registry, catalog):
    from cab_core.sweep import latest_sweep, read_manifest, spec_from_manifest

    first = spec_for(tmp_path, sweep_id="one", source="/x/a.toml", trials=2, options={"command": "true"},
                     weights={"integrity": 0.5})
    run_sweep(first, registry, catalog, executor=FakeExecutor(registry, catalog, lambda o, a: {}))
    time.sleep(0.01)
    second = spec_for(tmp_path, sweep_id="two", models=["oracle"])
    run_sweep(second, registry, catalog, executor=FakeExecutor(registry, catalog, lambda o, a: {}))
    manifest = read_manifest(first.root)
    assert manifest["cells"] == 8 and manifest["task_ids"] == [JS, PY]
    assert build_spec(spec_from_manifest(manifest)) == first  # re-running the manifest is the same sweep
    assert latest_sweep(first.results) == "two"
    assert latest_sweep(first.results, "/x/a.toml") == "one"
    assert latest_sweep(tmp_path / "nothing") is None


# --------------------------------------------------------------------------- resume and retries


def test_resume_skips_complete_cells_and_retries_infra_errors_within_budget(tmp_path, registry, catalog):
    spec = spec_for(tmp_path, retries=1)
    flaky = cell_id_of(plan_cells(spec, [JS])[1]).cell_id  # s/command/noop/polyglot/js-deep-merge

    def first(opts, attempt):
        cid = cell_id_of(opts).cell_id
        if cid == flaky:
            return {"status": "infra_error"}
        return {"passed": opts.model == "oracle"}

    ex = FakeExecutor(registry, catalog, first)
    report = run_sweep(spec, registry, catalog, executor=ex)
    # The flaky cell ran twice (1 + retries), then stays an infrastructure error.
    assert ex.submitted.count(flaky) == 2 and len(ex.submitted) == 5
    assert report.infra_errors == 1 and report.retried == 1 and report.passing == 2 and report.missing == 0
    assert not ex.closed  # the caller's executor is the caller's to close

    # Budget spent: a resume skips it as well as the complete cells.
    ex2 = FakeExecutor(registry, catalog, lambda o, a: {"passed": True})
    report = run_sweep(spec, registry, catalog, executor=ex2)
    assert ex2.submitted == [] and report.skipped == 4

    # A larger budget reruns it (and only it); it now succeeds.
    ex3 = FakeExecutor(registry, catalog, lambda o, a: {"passed": False})
    report = run_sweep(build_spec(spec.matrix(), {"retries": 3}), registry, catalog, executor=ex3)
    assert ex3.submitted == [flaky] and report.infra_errors == 0 and report.skipped == 3
    attempts = [json.loads(line) for line in (spec.root / ATTEMPTS_FILE).read_text().splitlines()]
    assert [a["status"] for a in attempts if a["cell"] == flaky] == ["infra_error", "infra_error", "ok"]

    # A killed coordinator's torn last line neither counts nor spoils the next entry.
    with open(spec.root / ATTEMPTS_FILE, "a") as fh:
        fh.write('{"cell": "%s", "status": "infra_' % flaky)

    # A missing cell (deleted) is rerun; a record that does not parse counts as missing too.
    victim = spec.results / cell_id_of(plan_cells(spec, [PY])[0]).relpath
    (victim / CELL_FILE).write_text("{ half a record")
    ex4 = FakeExecutor(registry, catalog, lambda o, a: {"passed": True})
    run_sweep(spec, registry, catalog, executor=ex4)
    assert ex4.submitted == [cell_id_of(plan_cells(spec, [PY])[0]).cell_id]
    assert len(cell_dirs(spec.root)) == 4 and all(read_cell(spec.results / cell_id_of(o).relpath)
                                                  for o in plan_cells(spec, [JS, PY]))
    runs = json.loads((spec.root / MANIFEST_FILE).read_text())["runs"]
    assert [r["ran"] for r in runs] == [5, 0, 1, 1] and all(r["status"] == "finished" for r in runs)
    lines = (spec.root / ATTEMPTS_FILE).read_text().splitlines()
    assert len(lines) == 8 and json.loads(lines[-1])["status"] == "ok"
    assert read_attempts(spec.root)[flaky] == 2


def test_an_executor_failure_is_recorded_as_an_infra_error_cell(tmp_path, registry, catalog):
    spec = spec_for(tmp_path, retries=0, models=["oracle"], tasks=[PY])

    def boom(opts, attempt):
        raise RuntimeError("worker lost")

    report = run_sweep(spec, registry, catalog, executor=FakeExecutor(registry, catalog, boom))
    assert report.infra_errors == 1
    cell = read_cell(spec.results / cell_id_of(plan_cells(spec, [PY])[0]).relpath)
    assert cell.status == "infra_error" and "worker lost" in cell.error


def test_a_second_coordinator_on_the_same_sweep_is_refused(tmp_path, registry, catalog):
    from cab_core.errors import CabError
    from cab_core.sweep import sweep_lock

    spec = spec_for(tmp_path)
    with sweep_lock(spec.root.resolve()):
        with pytest.raises(CabError, match="is being run by pid"):
            run_sweep(spec, registry, catalog, executor=FakeExecutor(registry, catalog, lambda o, a: {}))


def test_stale_staging_folders_of_a_killed_run_are_removed(tmp_path, registry, catalog):
    spec = spec_for(tmp_path, models=["oracle"], tasks=[PY])
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = spec.root / "command" / "oracle" / "polyglot" / "python-slugify" / f".trial-1.staging-{dead.pid}-abc"
    stale.mkdir(parents=True)
    (stale / "spans.jsonl").write_text("{}\n")
    run_sweep(spec, registry, catalog, executor=FakeExecutor(registry, catalog, lambda o, a: {}))
    assert not stale.exists() and cell_dirs(spec.root) == ["command/oracle/polyglot/python-slugify/trial-1"]


# --------------------------------------------------------------------------- normalisation


def test_normalisation_against_the_fastest_and_cheapest_passing_cell(tmp_path, registry, catalog):
    spec = spec_for(tmp_path, adapters=["mini"], models=["fast", "slow", "broke", "slowverify", "idle"], tasks=[PY])
    numbers = {"fast": dict(wall_ms=1000.0, tokens=500), "slow": dict(wall_ms=4000.0, tokens=2000),
               "broke": dict(wall_ms=500.0, tokens=100, passed=False),
               # As fast as "fast" but the harness took 8 s more (compiling, verifying): not the agent's time.
               "slowverify": dict(wall_ms=9000.0, agent_ms=1000.0, tokens=500),
               "idle": dict(wall_ms=100.0, tokens=0, passed=False)}
    report = run_sweep(spec, registry, catalog, executor=FakeExecutor(registry, catalog, lambda o, a: numbers[o.model]))
    ref = report.references[PY]
    # The failing cell is faster and cheaper, but only passing cells set the reference.
    assert ref["reference_wall_clock_ms"] == 1000.0 and ref["reference_tokens"] == 500.0
    assert ref["best_cells"]["reference_wall_clock_ms"] == "s/mini/fast/polyglot/python-slugify" and ref["passing_cells"] == 3
    cells = {o.model: read_cell(spec.results / cell_id_of(o).relpath) for o in plan_cells(spec, [PY])}
    comp = {m: c.scores["composite"].breakdown["components"] for m, c in cells.items()}
    assert comp["fast"]["latency_efficiency"] == 1.0 and comp["fast"]["cost_efficiency"] == 1.0
    assert comp["slow"]["latency_efficiency"] == 0.25 and comp["slow"]["cost_efficiency"] == 0.25
    # Cost and latency are earned by a correct result only: failed cells get 0 on both.
    assert comp["broke"]["latency_efficiency"] == 0.0 and comp["broke"]["cost_efficiency"] == 0.0
    assert comp["idle"]["latency_efficiency"] == 0.0 and comp["idle"]["cost_efficiency"] == 0.0
    assert comp["idle"]["tokens_per_correct_task"] is None
    assert comp["slowverify"]["latency_efficiency"] == 1.0
    values = {m: c.scores["composite"].value for m, c in cells.items()}
    assert max(values["broke"], values["idle"]) <= 0.3 < min(values["fast"], values["slow"], values["slowverify"])
    slow = cells["slow"].scores["composite"]
    # pass 0.4 + integrity 0.2 + cost 0.15 * 0.25 + latency 0.15 * 0.25 + blast 0.1
    assert slow.value == pytest.approx(0.4 + 0.2 + 0.15 * 0.25 + 0.15 * 0.25 + 0.1)
    norm = slow.breakdown["normalisation"]
    assert norm["reference_wall_clock_ms"] == 1000.0 and norm["cell_composite"] > slow.value
    # Raw per-axis numbers are untouched.
    assert cells["slow"].scores["latency"].value == 4000.0 and cells["slow"].scores["tokens"].value == 2000.0
    manifest = json.loads((spec.root / MANIFEST_FILE).read_text())
    assert manifest["normalisation"]["references"][PY]["reference_tokens"] == 500.0
    assert "min(1, reference / value)" in manifest["normalisation"]["formula"]
    # Idempotent: normalising again changes no byte.
    before = {m: (spec.results / cell_id_of(o).relpath / CELL_FILE).read_bytes() for m, o in
              zip(cells, plan_cells(spec, [PY]))}
    normalise(spec.root, registry, catalog)
    assert before == {m: (spec.results / cell_id_of(o).relpath / CELL_FILE).read_bytes() for m, o in
                      zip(cells, plan_cells(spec, [PY]))}


# --------------------------------------------------------------------------- index and summary


def _fake_matrix(tmp_path, registry, catalog):
    spec = spec_for(tmp_path, adapters=["command"], models=["oracle", "noop", "refuser"], tasks=[PY, JS], trials=2)

    def behave(opts, attempt):
        if opts.model == "refuser":
            return {"passed": False, "refuse": True, "tokens": 50}
        return {"passed": opts.model == "oracle", "wall_ms": 500.0 * opts.trial}

    run_sweep(spec, registry, catalog, executor=FakeExecutor(registry, catalog, behave))
    return spec


def test_index_has_a_row_per_cell_and_axis_and_is_rebuilt_when_lost(tmp_path, registry, catalog):
    spec = _fake_matrix(tmp_path, registry, catalog)
    db = spec.results / INDEX_FILE
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM cells WHERE sweep = 's'").fetchone()[0] == 12
    axes = conn.execute("SELECT count(*), count(DISTINCT axis) FROM scores").fetchone()
    assert axes[1] >= 7 and axes[0] == 12 * axes[1]
    assert conn.execute("SELECT passes, scored FROM pass_rates WHERE model = 'oracle'").fetchone() == (4, 4)
    assert json.loads(conn.execute("SELECT manifest FROM sweeps").fetchone()[0])["sweep_id"] == "s"
    before = conn.execute("SELECT * FROM cells ORDER BY cell_id").fetchall()
    conn.close()

    db.unlink()
    with ensure(spec.results) as idx:  # rebuilt from the cell files on first use
        assert len(idx.rows("s")) == 12
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT * FROM cells ORDER BY cell_id").fetchall() == before
    conn.close()

    db.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    res = CliRunner().invoke(make_cli(), ["index", "--results", str(spec.results)])
    assert res.exit_code == 0, res.output
    with Index(spec.results) as idx:
        assert len(idx.rows("s")) == 12

    # A cell removed from disk leaves the index on the next sync.
    victim = next(iter_cell_dirs(spec.root))
    import shutil

    shutil.rmtree(victim)
    with Index(spec.results) as idx:
        counts = idx.sync()
        assert counts["removed"] == 1 and len(idx.rows("s")) == 11


@pytest.mark.slow
def test_summary_json_csv_and_text(tmp_path, registry, catalog):
    spec = _fake_matrix(tmp_path, registry, catalog)
    cli = make_cli()
    res = CliRunner().invoke(cli, ["summary", "s", "--results", str(spec.results), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    board = {e["model"]: e for e in data["leaderboard"]}
    assert [e["model"] for e in data["leaderboard"]][0] == "oracle"
    assert board["oracle"]["pass_rate"] == 1.0 and board["oracle"]["pass_at_k"]["2"] == 1.0
    assert board["noop"]["ci_high"] == pytest.approx(0.4899, abs=1e-4)
    assert board["refuser"]["over_refusal_rate"] == 1.0 and board["refuser"]["tokens_per_correct"] is None
    assert board["oracle"]["latency_median_ms"] == 750.0
    # Nothing passed: tokens per correct task is undefined (null), never 0; a noop that wrote
    # nothing and said nothing is neither a refusal nor compliance: counted apart.
    assert board["noop"]["tokens_per_correct"] is None
    assert board["noop"]["refusal_uncertain"] == 4 and board["noop"]["over_refusal_rate"] is None
    assert board["oracle"]["refusal_uncertain"] == 0 and board["oracle"]["over_refusal_rate"] == 0.0
    assert len(data["comparisons"]) == 3 and data["normalisation"]["references"][PY]["passing_cells"] == 2
    oracle_noop = next(c for c in data["comparisons"] if c["b"]["model"] == "noop" and c["a"]["model"] == "oracle")
    assert oracle_noop["only_a"] == 4 and oracle_noop["mcnemar_p"] == 0.125

    res = CliRunner().invoke(cli, ["summary", "s", "--results", str(spec.results), "--csv"])
    header, *lines = res.output.splitlines()
    assert header.startswith("adapter,model,cells") and "pass@2" in header and len(lines) == 3
    cols = header.split(",")
    noop = next(dict(zip(cols, line.split(","))) for line in lines if line.startswith("command,noop,"))
    assert noop["tokens_per_correct"] == "" and noop["refusal_uncertain"] == "4"

    res = CliRunner().invoke(cli, ["summary", "s", "--results", str(spec.results)])
    head, *body = [line for line in res.output.splitlines()[1:4]]
    noop_line = next(line for line in body if line.startswith("command  noop"))
    # One column per registered axis, by its scorer's label, in order.
    assert "tokens/correct" in head and "refusal" in head and "agent time" in head and "composite" in head
    assert head.index("tokens/correct") < head.index("agent time") < head.index("composite")
    end = head.index("tokens/correct") + len("tokens/correct")  # numeric columns are right-aligned
    assert noop_line[end - 1] == "–" and noop_line[end - 2] == " "

    res = CliRunner().invoke(cli, ["summary", "s", "--results", str(spec.results),
                                   "--compare", "command:noop", "command:refuser"])
    assert "pass rate [95% CI]" in res.output and "pass@2" in res.output
    assert "command:noop vs command:refuser" in res.output and "McNemar p = 1" in res.output

    res = CliRunner().invoke(cli, ["summary", "nope", "--results", str(spec.results)])
    assert res.exit_code == 2 and "no sweep 'nope'" in res.output
    res = CliRunner().invoke(cli, ["summary", "s", "--results", str(spec.results), "--compare", "command:x", "command:noop"])
    assert res.exit_code == 2 and "no cells for command:x" in res.output


# --------------------------------------------------------------------------- real cells


class Recorder(SweepObserver):
    def __init__(self):
        self.events = []

    def started(self, **kw):
        self.events.append(("started", kw))

    def cell_finished(self, outcome, **kw):
        self.events.append(("cell", outcome.status, outcome.passed, kw["done"], kw["passing"]))


@pytest.mark.slow
def test_local_pool_runs_real_cells_sharing_one_runner(tmp_path, registry, catalog):
    spec = spec_for(tmp_path, jobs=2, tasks=[PY])
    runner = Runner(registry, catalog)
    seen = Recorder()
    try:
        report = run_sweep(spec, registry, catalog, runner=runner, observer=seen)
    finally:
        runner.close()
    assert report.total == 2 and report.ran == 2 and report.passing == 1 and report.infra_errors == 0
    assert seen.events[0] == ("started", {"sweep_id": "s", "total": 2, "complete": 0, "passing": 0, "to_run": 2})
    assert sorted(e[3] for e in seen.events[1:]) == [1, 2]
    passed = {c.identity.model: c.passed for c in map(read_cell, iter_cell_dirs(spec.root))}
    assert passed == {"oracle": True, "noop": False}


# --------------------------------------------------------------------------- slow: the must-shows


def _tasks_dir(root: Path) -> Path:
    write_task(root / "tasks", "demo/add")
    return root / "tasks"


def _pass_map(sweep_root: Path) -> dict:
    out = {}
    for folder in iter_cell_dirs(sweep_root):
        cell = read_cell(folder)
        i = cell.identity
        out[(i.adapter, i.model, i.task, i.trial)] = (cell.status, cell.passed)
    return out


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """The 2 adapters × 2 models × 8 tasks × 2 trials sweep with --jobs 2, through the CLI."""
    root = tmp_path_factory.mktemp("matrix")
    tasks_dir = _tasks_dir(root)
    proc = run_cab("sweep", *MATRIX, "--jobs", "2", "--sweep-id", "local", "--results", root / "results",
                   "--tasks-dir", tasks_dir, timeout=600)
    return root, tasks_dir, proc


@pytest.mark.slow
def test_matrix_sweep_with_two_jobs_and_its_summary(local_sweep):
    root, _, proc = local_sweep
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep_root = root / "results" / "local"
    passes = _pass_map(sweep_root)
    assert len(passes) == 64 and all(status == "ok" for status, _ in passes.values())
    assert all(passed == (model in ("oracle", "scripted/oracle")) for (_, model, _, _), (_, passed) in passes.items())
    # Plain progress lines on a pipe, one per cell.
    progress = [line for line in proc.stderr.splitlines() if line.startswith("[")]
    assert len(progress) == 64 and progress[-1].startswith("[64/64]") and "passing 32/64" in progress[-1]
    out = proc.stdout
    assert "pass rate [95% CI]" in out and "1.000 [0.806, 1.000]" in out and "pass@2" in out and "pass^2" in out
    assert "paired comparisons" in out and "McNemar p = 3.05e-05" in out

    res = run_cab("summary", "local", "--results", root / "results", "--json")
    data = json.loads(res.stdout)
    assert len(data["leaderboard"]) == 4 and all(e["cells"] == 16 and e["tasks"] == 8 for e in data["leaderboard"])
    top = data["leaderboard"][0]
    assert top["pass_rate"] == 1.0 and top["pass_at_k"]["2"] == 1.0 and top["pass_hat_k"]["2"] == 1.0
    assert {(c["only_a"], c["only_b"]) for c in data["comparisons"]} == {(0, 0), (16, 0)}
    refs = data["normalisation"]["references"]
    assert len(refs) == 8 and all(r["passing_cells"] == 4 for r in refs.values())
    # The scripted oracle's tokens are the reference; the command oracle spends none.
    assert all(r["reference_tokens"] > 0 and r["best_cells"]["reference_tokens"].split("/")[1] == "mini" for r in refs.values())


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume_gives_every_cell_exactly_once(tmp_path):
    tasks_dir = _tasks_dir(tmp_path)
    results = tmp_path / "results"
    sweep_root = results / "killed"
    args = [str(VENV_BIN / "cab"), "sweep", "--adapters", "command", "--models", "oracle,noop",
            "--tasks", "polyglot/python-*,demo/*", "--trials", "2", "--jobs", "2", "--sweep-id", "killed",
            "--results", str(results), "--tasks-dir", str(tasks_dir)]
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:  # (a staging folder can be renamed while the walk is in it; its cell.json is not yet a cell)
                done = list(iter_cell_dirs(sweep_root)) if sweep_root.exists() else []
                in_flight = [p for p in sweep_root.rglob(".trial-*staging-*")] if sweep_root.exists() else []
            except FileNotFoundError:
                continue
            if len(done) >= 4 and in_flight:
                break
            assert proc.poll() is None, (tmp_path / "first.log").read_text()
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert proc.returncode == -signal.SIGKILL
    before = {}
    for folder in iter_cell_dirs(sweep_root):
        cell = read_cell(folder)  # every published record parses: nothing half-written
        before[cell.cell_id] = cell.started_at
    assert 4 <= len(before) < 20

    res = run_cab("sweep", "--resume", "--sweep-id", "killed", "--results", results, "--json", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout)["report"]
    expected = {f"killed/command/{m}/{t}" + ("" if n == 1 else f"#{n}")
                for m in ("oracle", "noop") for n in (1, 2)
                for t in ("polyglot/python-csv-line", "polyglot/python-interval-merge", "polyglot/python-lru-cache",
                          "polyglot/python-slugify", "demo/add")}
    cells = [read_cell(f) for f in iter_cell_dirs(sweep_root)]
    assert sorted(c.cell_id for c in cells) == sorted(expected)  # every cell, exactly once
    assert report["skipped"] == len(before) and report["ran"] == 20 - len(before)
    assert all(c.started_at == before[c.cell_id] for c in cells if c.cell_id in before)  # complete cells kept
    assert not [p for p in sweep_root.rglob(".*") if p.is_dir()]  # staging of the killed run cleaned up
    assert all(c.passed == (c.identity.model == "oracle") for c in cells)
    runs = json.loads((sweep_root / MANIFEST_FILE).read_text())["runs"]
    assert [r["status"] for r in runs] == ["running", "finished"]  # the killed run never got to finish


def _start(args, log, cwd):
    return subprocess.Popen([str(a) for a in args], stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                            start_new_session=True)


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


def _scheduler_address(sched_file, deadline):
    """The scheduler writes its file in more than one step: wait until it parses."""
    while True:
        try:
            return json.loads(sched_file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.slow
def test_dask_scheduler_and_workers_give_the_same_pass_fail_as_the_local_pool(local_sweep, tmp_path):
    distributed = pytest.importorskip("distributed")
    root, tasks_dir, proc = local_sweep
    assert proc.returncode == 0
    dask = VENV_BIN / "dask"
    sched_file = tmp_path / "scheduler.json"
    log = open(tmp_path / "dask.log", "w")
    procs = []
    try:
        procs.append(_start([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                             "--scheduler-file", sched_file], log, tmp_path))
        for _ in range(2):
            procs.append(_start([dask, "worker", "--scheduler-file", sched_file, "--host", "127.0.0.1",
                                 "--nthreads", "1", "--no-dashboard", "--no-nanny"], log, tmp_path))
        address = _scheduler_address(sched_file, deadline=time.monotonic() + 60)
        assert address.startswith("tcp://127.0.0.1:")
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        res = run_cab("sweep", *MATRIX, "--executor", "dask", "--scheduler", address, "--sweep-id", "dask",
                      "--results", root / "results", "--tasks-dir", tasks_dir, "--json", timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
    finally:
        _stop(procs[::-1])
        log.close()
    local = _pass_map(root / "results" / "local")
    remote = _pass_map(root / "results" / "dask")
    assert len(remote) == 64 and remote == local
    attempts = [json.loads(line) for line in (root / "results" / "dask" / ATTEMPTS_FILE).read_text().splitlines()]
    assert len(attempts) == 64 and len({a["worker"] for a in attempts}) == 2  # both workers ran cells


@pytest.mark.slow
def test_dask_local_cluster_returning_cells_to_the_coordinator(tmp_path, registry):
    pytest.importorskip("distributed")
    tasks_dir = _tasks_dir(tmp_path)
    catalog = TaskCatalog(registry, tasks_dirs=[tasks_dir])
    spec = build_spec({"sweep_id": "lc", "adapters": ["command"], "models": ["oracle", "noop"], "tasks": [PY, "demo/add"],
                       "results": tmp_path / "results", "executor": "dask", "jobs": 2, "worker_results": "return",
                       "tasks_dirs": [tasks_dir]})
    report = run_sweep(spec, registry, catalog)
    assert report.total == 4 and report.infra_errors == 0 and report.passing == 2
    passes = _pass_map(spec.root)
    assert {k[1:3]: v for k, v in passes.items()} == {
        ("oracle", PY): ("ok", True), ("noop", PY): ("ok", False),
        ("oracle", "demo/add"): ("ok", True), ("noop", "demo/add"): ("ok", False)}
    folder = spec.results / cell_id_of(plan_cells(spec, [PY])[0]).relpath
    assert {"cell.json", "spans.jsonl", "diff.patch", "test_output.txt"} <= {p.name for p in folder.iterdir()}
