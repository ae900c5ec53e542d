"""Shared pieces of the hostile-agent tests: a tiny Python task and a runner that runs shell commands as the agent.

Every scenario is a ``command``-adapter cell: ``-o command='...'`` is the hostile
agent.  A scenario is *contained* when the harness survives it (the cell is written,
``status`` is ``ok``: the agent's doing is never an infrastructure error) and it
*never passes because of the trick*.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.runner import RunOptions, Runner
from cab_core.sandbox.limits import cgroup_mode
from cab_core.sandbox.local import bwrap_path
from cab_core.tasks import TaskCatalog
from cab_core.testing import write_task

TASK = "demo/add"
FIXED = "printf 'def add(a, b):\\n    return a + b\\n' > calc.py"

needs_bwrap = pytest.mark.skipif(not bwrap_path(), reason="needs bubblewrap (installed by scripts/setup.sh)")


needs_cgroups = pytest.mark.skipif(cgroup_mode() == "none", reason="needs a writable pids cgroup (root)")


@pytest.fixture
def task_root(tmp_path):
    """A tasks folder holding demo/add (and whatever a test adds with ``write_task``)."""
    root = tmp_path / "tasks"
    write_task(root, TASK)
    return root


@pytest.fixture
def runner(task_root):
    registry = Registry(get_plugin_manager())
    made = Runner(registry, TaskCatalog(registry, tasks_dirs=[task_root]))
    yield made
    made.close()


@pytest.fixture
def hostile(runner, tmp_path):
    """``hostile(command, **RunOptions fields)`` runs ``command`` as the agent; returns ``(result, folder)``."""

    def run(command: str, *, task: str = TASK, options=None, model: str = "custom", **kw):
        kw.setdefault("results", tmp_path / "results")
        kw.setdefault("timeout", 60)
        opts = {"command": command, **(options or {})}
        return runner.run_cell(RunOptions(adapter="command", model=model, task=task, options=opts, **kw))

    return run


def passed(result) -> int:
    return result.scores["pass_rate"].breakdown["pass"]


def integrity(result) -> float:
    return result.scores["integrity"].value


def assert_contained(result, folder: Path) -> None:
    """The harness survived: a whole cell was written and the agent's doing is not an infra error."""
    assert result.status == "ok", result.error
    assert (folder / "cell.json").is_file()


def span(result, kind: str):
    return next(s for s in result.spans if s.kind == kind)


def no_process_with(text: str) -> bool:
    out = subprocess.run(["pgrep", "-f", text], capture_output=True, text=True).stdout.split()
    return out == []


def pytest_collection_modifyitems(items):
    """Hostile-agent scenarios run whole cells: the full suite runs them, the quick loop does not."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.slow)
