"""Third-party plugins that raise: the cell (or listing row) fails naming the plugin; everything else goes on."""

import json

import pytest
from click.testing import CliRunner

from cab_core import Adapter, AgentPlugin, Sandbox, Scorer, TaskSource, hookimpl
from cab_core.cli import make_cli
from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.results import iter_cell_dirs, read_cell
from cab_core.runner import RunOptions, Runner
from cab_core.tasks import TaskCatalog

from .conftest import FIXED, TASK


class BrokenAdapter:
    @hookimpl
    def cab_adapters(self):
        def build_launch(ctx):
            raise RuntimeError("adapter on fire")

        return [Adapter(name="broken", build_launch=build_launch)]


class BrokenAgentPlugin:
    @hookimpl
    def cab_agent_plugins(self):
        def apply(spec, ctx, options):
            raise ValueError("agent plugin on fire")

        return [AgentPlugin(name="burns", apply=apply)]


class BrokenSandbox:
    @hookimpl
    def cab_sandboxes(self):
        def open_(**kw):
            raise OSError("sandbox on fire")

        return [Sandbox(name="burning", open=open_)]


class BrokenScorer:
    @hookimpl
    def cab_scorers(self):
        def score(ctx):
            raise ZeroDivisionError("scorer on fire")

        return [Scorer(name="explodes", score=score)]


class BrokenObserver:
    @hookimpl
    def cab_cell_started(self, cell, task):
        raise RuntimeError("observer on fire at start")

    @hookimpl
    def cab_span_finished(self, cell, span):
        raise RuntimeError("observer on fire at a span")

    @hookimpl
    def cab_cell_finished(self, result, path):
        raise RuntimeError("observer on fire at the end")


class BrokenProvider:
    @hookimpl
    def cab_adapters(self):
        raise RuntimeError("provider on fire")


class BrokenTaskSource:
    @hookimpl
    def cab_task_sources(self):
        def load(paths):
            raise RuntimeError("task source on fire")

        return [TaskSource(name="burning-tasks", load=load, builtin=True)]


PLUGINS = {"broken-adapter": BrokenAdapter(), "broken-agent-plugin": BrokenAgentPlugin(), "broken-sandbox": BrokenSandbox(),
           "broken-scorer": BrokenScorer(), "broken-observer": BrokenObserver()}


@pytest.fixture
def runner_with(task_root):
    made = []

    def make(*names):
        pm = get_plugin_manager(entry_points=True)
        for name in names:
            pm.register(PLUGINS[name], name=name)
        registry = Registry(pm)
        runner = Runner(registry, TaskCatalog(registry, tasks_dirs=[task_root]))
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()


def run(runner, tmp_path, **kw):
    kw.setdefault("results", tmp_path / "results")
    kw.setdefault("task", TASK)
    return runner.run_cell(RunOptions(**kw))


@pytest.mark.parametrize("plugin, kw, fragment", [
    ("broken-adapter", {"adapter": "broken", "model": "x"}, "adapter on fire"),
    ("broken-agent-plugin", {"adapter": "command", "model": "noop", "plugins": ("burns",)}, "agent plugin on fire"),
    ("broken-sandbox", {"adapter": "command", "model": "noop", "sandbox": "burning"}, "sandbox on fire"),
])
def test_a_plugin_raising_in_a_cell_fails_that_cell_naming_the_plugin(runner_with, tmp_path, plugin, kw, fragment):
    runner = runner_with(plugin)
    result, folder = run(runner, tmp_path, **kw)
    assert result.status == "infra_error"
    assert plugin in result.error and fragment in result.error
    assert len(result.error.splitlines()) == 1
    assert (folder / "cell.json").is_file()
    # ... and the next cell runs as if nothing happened
    result, _ = run(runner, tmp_path, adapter="command", model="custom", options={"command": FIXED}, sweep_id="after")
    assert result.status == "ok" and result.passed


def test_a_scorer_that_raises_costs_only_its_axis(runner_with, tmp_path):
    result, _ = run(runner_with("broken-scorer"), tmp_path, adapter="command", model="custom", options={"command": FIXED})
    assert result.status == "ok" and result.passed
    assert "broken-scorer" in result.scores["explodes"].error and "scorer on fire" in result.scores["explodes"].error


def test_an_observer_that_raises_is_a_warning_naming_it(runner_with, tmp_path):
    result, _ = run(runner_with("broken-observer"), tmp_path, adapter="command", model="custom", options={"command": FIXED})
    assert result.status == "ok" and result.passed
    warnings = result.host["warnings"]
    assert warnings and all("broken-observer" in w for w in warnings)
    assert any("at start" in w for w in warnings) and any("at a span" in w for w in warnings)


def test_a_provider_hook_that_raises_loses_only_its_rows(tmp_path):
    pm = get_plugin_manager(plugins=())
    pm.register(BrokenProvider(), name="broken-provider")
    res = CliRunner().invoke(make_cli(lambda: pm), ["adapters", "--json"])
    assert res.exit_code == 0
    rows = json.loads(res.stdout)
    assert "command" in {r["name"] for r in rows}
    assert "broken-provider" in res.stderr and "provider on fire" in res.stderr


def test_a_sweep_goes_on_past_a_broken_plugin(task_root, tmp_path):
    pm = get_plugin_manager()
    pm.register(BrokenAdapter(), name="broken-adapter")
    res = CliRunner().invoke(make_cli(lambda: pm), [
        "sweep", "--adapters", "broken,command", "--models", "broken=x", "--models", "command=oracle,noop",
        "--tasks", TASK, "--retries", "0", "--sweep-id", "s", "--results", str(tmp_path / "r"),
        "--tasks-dir", str(task_root)])
    assert "Traceback" not in res.output
    cells = {c.identity.adapter + "/" + c.identity.model: c for c in map(read_cell, iter_cell_dirs(tmp_path / "r" / "s"))}
    assert set(cells) == {"broken/x", "command/oracle", "command/noop"}
    assert cells["broken/x"].status == "infra_error" and "broken-adapter" in cells["broken/x"].error
    assert cells["command/oracle"].passed and cells["command/noop"].status == "ok"


def test_a_task_source_that_raises_loses_only_its_tasks(task_root):
    pm = get_plugin_manager()
    pm.register(BrokenTaskSource(), name="broken-task-source")
    res = CliRunner().invoke(make_cli(lambda: pm), ["tasks", "list", "--tasks-dir", str(task_root)])
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert TASK in res.stdout and "broken-task-source" in res.stderr
