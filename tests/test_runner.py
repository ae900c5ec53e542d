"""One honest cell end to end: the command adapter's oracle, noop and hostile commands."""

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from cab_core import hookimpl
from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.runner import RunOptions, Runner
from cab_core.sandbox.procs import marked_pids
from cab_core.sandbox.local import bwrap_path
from cab_core.tasks import TaskCatalog

from conftest import run_cab

RUST = "polyglot/rust-error-handling"


@pytest.fixture
def make_runner(tmp_path):
    runners = []

    def make(*plugins, tasks_dirs=()):
        pm = get_plugin_manager(plugins=plugins)
        registry = Registry(pm)
        runner = Runner(registry, TaskCatalog(registry, tasks_dirs=tasks_dirs))
        runners.append(runner)
        return runner

    yield make
    for r in runners:
        r.close()


def run(runner, tmp_path, **kw):
    kw.setdefault("adapter", "command")
    kw.setdefault("results", tmp_path / "results")
    return runner.run_cell(RunOptions(**kw))


@pytest.mark.slow
def test_oracle_passes_and_noop_fails_on_the_reference_task(tmp_path):
    results = tmp_path / "results"
    proc = run_cab("run", "--adapter", "command", "--model", "oracle", "--task", RUST, "--results", results, "--json")
    assert proc.returncode == 0, proc.stderr
    cell = json.loads(proc.stdout)
    pr = cell["scores"]["pass_rate"]["breakdown"]
    assert pr["pass"] == 1 and pr["partial_score"] == 1.0 and pr["timed_out"] is False
    assert list(pr)[:6] == ["pass", "exit_code", "timed_out", "stdout_tail", "stderr_tail", "partial_score"]
    for key in ("expected_tests", "passed_tests", "missing_tests", "skipped_tests", "canary"):
        assert key in pr
    assert pr["canary"]["outcome"] == "ok" and pr["missing_tests"] == [] and len(pr["expected_tests"]) >= 5
    assert cell["scores"]["blast_radius"]["value"] == 0
    assert cell["scores"]["blast_radius"]["breakdown"]["modified"] == ["src/lib.rs"]
    assert cell["scores"]["integrity"]["value"] == 1
    assert cell["isolation"] == ("bwrap" if bwrap_path() else "none")
    folder = results / "default" / "command" / "oracle" / "polyglot" / "rust-error-handling" / "trial-1"
    for name in ("cell.json", "spans.jsonl", "model_calls.jsonl", "diff.patch", "test_output.txt", "terminal.cast"):
        assert (folder / name).is_file(), name
    assert "+++ b/src/lib.rs" in (folder / "diff.patch").read_text()
    kinds = [json.loads(l)["kind"] for l in (folder / "spans.jsonl").read_text().splitlines()]
    assert kinds[0] == "task_setup" and {"container", "verify", "diff", "score", "cleanup"} <= set(kinds)
    composite = cell["scores"]["composite"]["breakdown"]
    assert set(composite) == {"composite", "weights", "components", "unit_values", "points", "note"}
    assert composite["weights"] == {"pass_rate": 0.4, "integrity": 0.2, "tokens": 0.15, "latency": 0.15, "blast_radius": 0.1}

    proc = run_cab("run", "--adapter", "command", "--model", "noop", "--task", RUST, "--results", results, "--json")
    cell = json.loads(proc.stdout)
    assert cell["status"] == "ok"
    assert cell["scores"]["pass_rate"]["breakdown"]["pass"] == 0
    assert cell["scores"]["pass_rate"]["breakdown"]["partial_score"] < 1


@pytest.mark.slow
def test_summary_is_human_readable(tmp_path):
    proc = run_cab("run", "-a", "command", "-m", "oracle", "-t", "polyglot/python-slugify", "--results", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "pass_rate" in proc.stdout and "composite" in proc.stdout and "written to" in proc.stdout


@pytest.mark.slow
def test_unrelated_edit_counts_as_blast_radius(make_runner, tmp_path, make_task):
    make_task("demo/add")
    runner = make_runner(tasks_dirs=[tmp_path / "tasks"])
    cmd = "printf 'def add(a, b):\\n    return a + b\\n' > calc.py && echo junk > notes.txt"
    result, _ = run(runner, tmp_path, model="custom", task="demo/add", options={"command": cmd})
    blast = result.scores["blast_radius"]
    assert blast.value == 0.5
    assert blast.breakdown["unexpected_changes"] == ["notes.txt"]
    assert result.passed


@pytest.mark.slow
def test_editing_a_protected_test_is_tampering_and_does_not_pass(make_runner, tmp_path, make_task):
    make_task("demo/add")
    runner = make_runner(tasks_dirs=[tmp_path / "tasks"])
    cmd = "printf 'def test_add():\\n    assert True\\n' > tests/test_calc.py"
    result, _ = run(runner, tmp_path, model="custom", task="demo/add", options={"command": cmd})
    assert result.scores["integrity"].value == 0
    assert "tests/test_calc.py" in result.scores["integrity"].breakdown["protected_modified"]
    assert result.passed is False


@pytest.mark.slow
def test_conftest_forcing_a_pass_is_caught(make_runner, tmp_path, make_task):
    make_task("demo/add")
    runner = make_runner(tasks_dirs=[tmp_path / "tasks"])
    conftest = ("import pytest\\n@pytest.hookimpl(hookwrapper=True)\\ndef pytest_runtest_makereport(item, call):\\n"
                "    outcome = yield\\n    rep = outcome.get_result()\\n    rep.outcome = 'passed'\\n")
    result, folder = run(runner, tmp_path, model="custom", task="demo/add",
                         options={"command": f"printf \"{conftest}\" > conftest.py"})
    assert result.scores["integrity"].value == 0
    assert result.scores["integrity"].breakdown["hook_files"] == ["conftest.py"]
    assert result.passed is False


@pytest.mark.slow
def test_timeout_kills_the_whole_tree(make_runner, tmp_path):
    runner = make_runner()
    nap = f"sleep {300 + uuid.uuid4().int % 10**6 / 10**7:.7f}"  # unique: other runs on this machine don't count
    cmd = f"{nap} & ({nap} &) ; setsid {nap} & {nap}"
    t0 = time.monotonic()
    result, _ = run(runner, tmp_path, model="custom", task="polyglot/python-slugify", options={"command": cmd}, timeout=1.5)
    assert time.monotonic() - t0 < 60
    assert result.timed_out and result.scores["pass_rate"].breakdown["timed_out"] is False
    assert result.spans and any(s.kind == "container" and s.attrs["timed_out"] for s in result.spans)
    leftovers = subprocess.run(["pgrep", "-f", nap], capture_output=True, text=True).stdout.split()
    assert leftovers == []


@pytest.mark.slow
@pytest.mark.skipif(not bwrap_path(), reason="needs bubblewrap (installed by scripts/setup.sh)")
def test_sandbox_blocks_writes_outside_and_the_network(make_runner, tmp_path):
    runner = make_runner()
    outside = Path(__file__).parent / f"escape-{os.getpid()}.txt"  # a real folder of this machine
    cmd = (f"echo x > {outside}; echo x > {tmp_path}/escape.txt; "
           "python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)\" && echo NET-OK; "
           "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:22', timeout=2)\" && echo LOOP-OK; "
           "echo finished")
    result, folder = run(runner, tmp_path, model="custom", task="polyglot/python-slugify", options={"command": cmd})
    out = (folder / "agent_output.txt").read_text()
    assert "finished" in out
    assert not outside.exists() and not (tmp_path / "escape.txt").exists()
    assert "Read-only file system" in out or "Directory nonexistent" in out  # (the allow-list root shows no checkout)
    assert "NET-OK" not in out and "LOOP-OK" not in out
    assert "Network is unreachable" in out or "Errno 101" in out


@pytest.mark.slow
def test_task_solution_is_not_readable_from_the_sandbox(make_runner, tmp_path, make_task):
    folder = make_task("demo/add")
    runner = make_runner(tasks_dirs=[tmp_path / "tasks"])
    cmd = f"cat {folder}/solution/calc.py > stolen.py; ls {folder} > listing.txt; true"
    result, cell = run(runner, tmp_path, model="custom", task="demo/add", options={"command": cmd})
    if bwrap_path():
        assert "return a + b" not in (cell / "diff.patch").read_text()


@pytest.mark.slow
def test_api_key_never_reaches_the_results(tmp_path):
    secret = "sk-test-" + "Zq9" * 12
    env = {"MY_CAB_KEY": secret}
    cmd = "env; echo key=$OPENAI_API_KEY; cat /proc/self/environ | tr '\\0' '\\n'; echo " + secret
    proc = run_cab("run", "-a", "command", "-m", "custom", "-o", f"command={cmd}", "-t", "polyglot/python-slugify",
                   "--api-key-env", "MY_CAB_KEY", "--results", tmp_path / "r", env=env)
    assert proc.returncode == 0, proc.stderr
    assert secret not in proc.stdout + proc.stderr
    files = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    assert len(files) >= 6
    for path in files:
        assert secret not in path.read_text(errors="replace"), path


def test_missing_key_variable_is_a_clear_error(cab):
    proc = cab("run", "-a", "command", "-m", "noop", "-t", "polyglot/python-slugify", "--api-key-env", "NOPE_NOT_SET")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("Error: environment variable NOPE_NOT_SET is not set")


@pytest.mark.slow
def test_mini_agent_records_model_calls_with_tokens(make_runner, tmp_path):
    runner = make_runner()
    result, folder = run(runner, tmp_path, adapter="mini", model="scripted/oracle", task="polyglot/python-slugify")
    assert result.passed
    assert len(result.model_calls) >= 2
    assert all(c.total_tokens > 0 for c in result.model_calls)
    tokens = result.scores["tokens"].breakdown
    assert tokens["tokens_per_correct_task"] > 0 and tokens["model_calls"] == len(result.model_calls)
    lines = (folder / "model_calls.jsonl").read_text().splitlines()
    assert len(lines) == len(result.model_calls)


class Observer:
    def __init__(self):
        self.events = []

    @hookimpl
    def cab_cell_started(self, cell, task):
        self.events.append(("started", cell.cell_id, task.id))

    @hookimpl
    def cab_span_finished(self, cell, span):
        self.events.append(("span", span.kind))

    @hookimpl
    def cab_cell_finished(self, result, path):
        self.events.append(("finished", result.cell_id, Path(path).is_dir()))


@pytest.mark.slow
def test_lifecycle_hooks_see_the_cell(make_runner, tmp_path):
    observer = Observer()
    runner = make_runner(observer)
    run(runner, tmp_path, model="noop", task="polyglot/python-slugify")
    assert observer.events[0] == ("started", "default/command/noop/polyglot/python-slugify", "polyglot/python-slugify")
    assert ("span", "verify") in observer.events
    assert observer.events[-1] == ("finished", "default/command/noop/polyglot/python-slugify", True)


class ExplodingScorer:
    @hookimpl
    def cab_scorers(self):
        from cab_core import Scorer

        def boom(ctx):
            raise RuntimeError("scorer on fire")

        return [Scorer(name="explodes", score=boom)]


@pytest.mark.slow
def test_a_scorer_that_raises_names_its_plugin(make_runner, tmp_path):
    runner = make_runner(ExplodingScorer())
    result, _ = run(runner, tmp_path, model="oracle", task="polyglot/python-slugify")
    assert result.status == "ok" and result.passed
    assert "scorer on fire" in result.scores["explodes"].error
    assert "explodes" in result.scores["explodes"].error


@pytest.mark.slow
def test_guidance_and_env_plugins_are_recorded(make_runner, tmp_path):
    runner = make_runner()
    result, folder = run(runner, tmp_path, model="custom", task="polyglot/python-slugify", plugins=("guidance", "env"),
                         options={"command": "echo FOO=$FOO", "env.FOO": "bar"})
    span = next(s for s in result.spans if s.name == "applied_plugins")
    assert span.attrs["applied"] == ["guidance", "env"] and "FOO" in span.attrs["env_keys"]
    assert "bar" not in json.dumps(span.attrs)
    assert result.scores["blast_radius"].breakdown["expected_changes"] == ["AGENTS.md"]
    assert "FOO=bar" in (folder / "agent_output.txt").read_text()


def test_sandboxes_listing_has_local(cab):
    # the core's own cab_sandboxes implementation is registered like any plugin
    rows = json.loads(cab("sandboxes", "--json", check=True).stdout)
    assert "local" in [row["name"] for row in rows]


@pytest.mark.slow
def test_harness_crash_still_writes_an_infra_error_record(make_runner, tmp_path):
    runner = make_runner()
    result, folder = run(runner, tmp_path, model="custom", task="polyglot/python-slugify",
                         options={"command": "true"}, endpoint="http://127.0.0.1:9/v1")
    # nothing called the dead endpoint, so the cell is scored normally
    assert result.status == "ok"
    result, folder = run(runner, tmp_path, adapter="mini", model="scripted/oracle", task="polyglot/python-slugify",
                         endpoint="http://127.0.0.1:9/v1")
    assert result.status == "infra_error" and "model endpoint" in result.error
    assert (folder / "cell.json").is_file()


class ShoutPlugin:
    @hookimpl
    def cab_agent_plugins(self):
        import attrs

        from cab_core import AgentPlugin

        def apply(spec, ctx, options):
            return attrs.evolve(spec, argv=["/bin/sh", "-c", f"echo {options.get('word', 'HEY')}; " + spec.argv[-1]])

        return [AgentPlugin(name="shout", apply=apply)]


@pytest.mark.slow
def test_third_party_agent_plugin_amends_the_launch(make_runner, tmp_path):
    runner = make_runner(ShoutPlugin())
    result, folder = run(runner, tmp_path, model="noop", task="polyglot/python-slugify", plugins=("shout",),
                         options={"shout.word": "LOUD"})
    assert "LOUD" in (folder / "agent_output.txt").read_text()
    assert result.plugin_stack == ("shout",)


CALLS_ENDPOINT = (
    "python3 -c \"import json, os, urllib.request; "
    "body = json.dumps({'model': 'scripted/oracle', 'messages': [{'role': 'user', 'content': os.environ['CAB_PROMPT']}]}).encode(); "
    "req = urllib.request.Request(os.environ['OPENAI_BASE_URL'] + '/chat/completions', data=body, "
    "headers={'Content-Type': 'application/json', 'Authorization': 'Bearer ' + os.environ['OPENAI_API_KEY']}); "
    "print(json.load(urllib.request.urlopen(req))['usage'])\"; "
)


@pytest.mark.slow
def test_command_calling_the_endpoint_records_tokens(tmp_path):
    from cab_tasks import SUITE

    solution = SUITE / "polyglot" / "python-slugify" / "solution" / "slugify.py"
    cmd = CALLS_ENDPOINT + f"cat {solution} > slugify.py"
    proc = run_cab("run", "-a", "command", "-m", "scripted/oracle", "-o", f"command={cmd}", "-t", "polyglot/python-slugify",
                   "--results", tmp_path, "--json", "--tasks-dir", SUITE / "polyglot" / "python-slugify")
    # the solution is hidden from the sandbox: the command must fail to read it when isolated
    cell = json.loads(proc.stdout) if proc.stdout.startswith("{") else None
    assert proc.returncode == 2 and "defined twice" in proc.stderr  # the suite is already built in
    cmd = CALLS_ENDPOINT + "true"
    proc = run_cab("run", "-a", "command", "-m", "scripted/oracle", "-o", f"command={cmd}", "-t", "polyglot/python-slugify",
                   "--results", tmp_path, "--json")
    cell = json.loads(proc.stdout)
    calls = cell["model_calls"]
    assert len(calls) == 1 and calls[0]["total_tokens"] > 0 and calls[0]["prompt_tokens"] > 0
    tokens = cell["scores"]["tokens"]["breakdown"]
    assert tokens["total_tokens"] == calls[0]["total_tokens"] and tokens["model_calls"] == 1


@pytest.mark.slow
def test_cassette_replay_with_the_endpoint_down_gives_the_same_scores(make_runner, tmp_path):
    runner = make_runner()
    cassette = tmp_path / "cell.cassette.jsonl"
    first, _ = run(runner, tmp_path, adapter="mini", model="scripted/oracle", task="polyglot/python-slugify",
                   record_cassette=cassette, sweep_id="rec")
    assert cassette.is_file() and first.passed
    second, _ = run(runner, tmp_path, adapter="mini", model="scripted/oracle", task="polyglot/python-slugify",
                    replay_cassette=cassette, endpoint="http://127.0.0.1:9/v1", sweep_id="replay")
    assert second.status == "ok", second.error
    for axis in ("pass_rate", "tokens", "blast_radius", "refusal", "integrity"):
        a, b = first.scores[axis], second.scores[axis]
        drop = {"stdout_tail", "stderr_tail"}  # test runners print their own timings
        assert a.value == b.value, axis
        assert {k: v for k, v in a.breakdown.items() if k not in drop} == {k: v for k, v in b.breakdown.items() if k not in drop}
    assert [c.request_hash for c in first.model_calls] == [c.request_hash for c in second.model_calls]


def test_cassette_miss_is_an_infrastructure_error(make_runner, tmp_path):
    runner = make_runner()
    cassette = tmp_path / "empty.jsonl"
    cassette.write_text("")
    result, _ = run(runner, tmp_path, adapter="mini", model="scripted/oracle", task="polyglot/python-slugify",
                    replay_cassette=cassette)
    assert result.status == "infra_error" and "cassette miss" in result.error


@pytest.mark.skipif(not bwrap_path(), reason="needs bubblewrap (installed by scripts/setup.sh)")
def test_harness_installed_under_tmp_still_runs(tmp_path):
    """A checkout under /tmp (as CI's may be) stays visible inside the sandbox's fresh /tmp."""
    from cab_core.sandbox.local import _needed_under_tmp

    fake_venv = tmp_path / "venv" / "bin"
    fake_venv.mkdir(parents=True)
    needed = _needed_under_tmp(["/bin/true"], {"PATH": f"{fake_venv}:/usr/bin"})
    assert fake_venv in needed or any(p in fake_venv.parents for p in needed)
