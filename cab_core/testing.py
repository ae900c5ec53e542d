"""A pytest plugin for people writing cab plugins (loaded automatically with cab-core).

Fixtures:

- ``cab_pm``: a fresh plugin manager with cab's specs and core defaults, no entry points;
- ``cab_register``: a context manager registering a plugin object for one block
  (``with cab_register(MyPlugin()): ...``), unregistered afterwards whatever happens;
- ``cab_cli``: run the ``cab`` CLI in-process against ``cab_pm``
  (``result = cab_cli("adapters", "--json")``);
- ``cab_main``: run the ``cab`` command line in-process as the console script would,
  with every installed plugin (``proc = cab_main("run", "-a", "command", ...)``, a
  ``subprocess.CompletedProcess``; see :func:`run_cab_in_process`);
- ``scripted_model_server``: the scripted OpenAI-compatible server on 127.0.0.1,
  stopped after the test;
- ``make_task``: write a task folder in the native format and return the tasks root
  (what ``--tasks-dir`` and ``TaskCatalog(tasks_dirs=[...])`` want; the task itself is
  ``root / task_id``);
- ``score_context``: ``score_context(**overrides)`` builds a :class:`cab_core.ScoreContext`
  for a passing run of a tiny Python task (override any field; ``task=`` and
  ``changes=`` also take a dict of fields);
- ``cab_runner``: ``cab_runner("command", "pass_rate", ..., plugins=[mine])`` gives a
  :class:`CellRunner` whose ``run(task=..., adapter=..., model=...)`` runs a real cell
  with only the named built-in plugins (entry-point names, see ``cab plugins``), the
  core's defaults and your plugin objects, and returns ``(CellResult, folder)``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import textwrap
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

import pytest

# The rest of cab is imported where a fixture or helper is used, not here: pytest loads this
# plugin in every run of an environment that has cab installed (an entry point), and a run
# that uses none of it should not pay for importing the harness.
if TYPE_CHECKING:
    from .models import CellResult, ScoreContext, Task
    from .plugins import PluginManager


@pytest.fixture
def cab_pm():
    """A plugin manager with cab's hook specs and core defaults, without entry points."""
    from .plugins import get_plugin_manager

    return get_plugin_manager(entry_points=False)


@pytest.fixture
def cab_register(cab_pm):
    """``with cab_register(plugin): ...`` registers ``plugin`` on ``cab_pm`` for the block."""

    @contextlib.contextmanager
    def register(plugin, name=None):
        cab_pm.register(plugin, name=name)
        try:
            yield plugin
        finally:
            cab_pm.unregister(plugin)

    return register


@pytest.fixture
def cab_cli(cab_pm):
    """Invoke the CLI in-process with ``cab_pm``; returns click's Result."""
    from click.testing import CliRunner

    from .cli import make_cli

    cli = make_cli(lambda: cab_pm)

    def invoke(*args, **kwargs):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)

    return invoke


def run_cab_in_process(*args: Any, env: Optional[dict] = None, cwd: Optional[Path] = None,
                       check: bool = False) -> subprocess.CompletedProcess:
    """Run the ``cab`` command line in this process, as the console script would, with every installed plugin.

    ``env`` is added to the environment for the call and ``cwd`` is the working folder
    meanwhile; the answer is a ``subprocess.CompletedProcess`` (an uncaught exception is
    exit 1 with its traceback on stderr, as the script prints it), without a fresh
    interpreter and its imports per call.  Entry points that only a new interpreter
    would see (a ``PYTHONPATH`` in ``env``) need the real console script.
    """
    from click.testing import CliRunner

    from .cli import make_cli

    argv = [str(a) for a in args]
    here = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = CliRunner().invoke(make_cli(), argv, env={k: str(v) for k, v in (env or {}).items()},
                                    catch_exceptions=True, prog_name="cab")
    finally:
        os.chdir(here)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
    proc = subprocess.CompletedProcess(["cab", *argv], result.exit_code, result.stdout, stderr)
    if check and proc.returncode != 0:
        raise AssertionError(f"cab {' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def cab_main():
    """:func:`run_cab_in_process`: the whole ``cab`` command line, in-process, every installed plugin."""
    return run_cab_in_process


@pytest.fixture
def scripted_model_server():
    """The scripted model server on 127.0.0.1, stopped after the test."""
    from .modelserver import ScriptedModelServer

    server = ScriptedModelServer().start()
    try:
        yield server
    finally:
        server.stop()


def write_task(
    root: Path,
    task_id: str = "demo/add",
    *,
    files: dict | None = None,
    solution: dict | None = None,
    test_command: str = "python -m pytest -q -p no:cacheprovider",
    expected_changes=("calc.py",),
    protected=("tests/**",),
    extra: str = "",
) -> Path:
    """Write a native task folder below ``root`` and return it (default: a tiny Python task)."""
    folder = Path(root) / task_id
    files = files if files is not None else {
        "calc.py": "def add(a, b):\n    return a - b\n",
        "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
                              "def test_zero():\n    assert add(0, 0) == 0\n",
    }
    solution = solution if solution is not None else {"calc.py": "def add(a, b):\n    return a + b\n"}
    for rel, text in files.items():
        path = folder / "workspace" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel, text in solution.items():
        path = folder / "solution" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (folder / "workspace").mkdir(parents=True, exist_ok=True)
    manifest = f"""\
        id = "{task_id}"
        language = "python"
        prompt = "Fix add() in calc.py so that it adds."
        test_command = "{test_command}"
        test_timeout = 60
        expected_changes = {list(expected_changes)!r}
        protected = {list(protected)!r}
        """
    (folder / "task.toml").write_text(textwrap.dedent(manifest).replace("'", '"') + extra)
    return folder


@pytest.fixture
def make_task(tmp_path):
    """``make_task(task_id, files=..., solution=...)`` writes a task and returns the tasks root (``--tasks-dir``)."""

    def make(task_id: str = "demo/add", **kwargs) -> Path:
        write_task(tmp_path / "tasks", task_id, **kwargs)
        return tmp_path / "tasks"

    return make


def default_task(root: Path, **fields: Any) -> Task:
    """A :class:`Task` record for the tiny Python task of :func:`write_task` (files not written)."""
    from .models import Task

    values = dict(id="demo/add", prompt="Fix add() in calc.py so that it adds.", language="python",
                  test_command="python -m pytest -q", expected_changes=("calc.py",), protected=("tests/**",),
                  workspace=Path(root) / "workspace")
    return Task(**{**values, **fields})


@pytest.fixture
def score_context(tmp_path):
    """``score_context(**overrides)``: a ScoreContext of a passing run that changed ``calc.py``."""

    def build(**overrides: Any) -> ScoreContext:
        from .models import CellId, FileChanges, ProcessResult, ScoreContext

        task = overrides.pop("task", None)
        task = default_task(tmp_path, **(task or {})) if isinstance(task, dict) or task is None else task
        changes = overrides.pop("changes", FileChanges(modified=("calc.py",)))
        changes = FileChanges(**changes) if isinstance(changes, dict) else changes
        values = dict(task=task, cell=CellId(sweep="test", adapter="author", model="m", task=task.id),
                      launch=ProcessResult(exit_code=0, duration_ms=1000.0),
                      verify=ProcessResult(exit_code=0, output="2 passed in 0.01s"), changes=changes,
                      wall_clock_ms=1500.0)
        return ScoreContext(**{**values, **overrides})

    return build


class CellRunner:
    """Runs real cells with a chosen set of plugins; results go below ``results``."""

    def __init__(self, pm: PluginManager, results: Path, tasks_dirs: Iterable[Path] = ()):
        from .registry import Registry
        from .runner import Runner
        from .tasks import TaskCatalog

        self.pm = pm
        self.registry = Registry(pm)
        self.results = Path(results)
        self.runner = Runner(self.registry, TaskCatalog(self.registry, tasks_dirs=list(tasks_dirs)))

    def run(self, *, task: str, adapter: str = "command", model: str = "oracle", **options: Any) -> tuple[CellResult, Path]:
        """Run one cell (``options``: any :class:`cab_core.runner.RunOptions` field); ``(result, folder)``."""
        from .runner import RunOptions

        options.setdefault("results", self.results)
        return self.runner.run_cell(RunOptions(adapter=adapter, model=model, task=task, **options))

    def close(self) -> None:
        self.runner.close()


@pytest.fixture
def cab_runner(tmp_path):
    """``cab_runner(*builtin_names, plugins=(), tasks_dirs=())`` -> :class:`CellRunner` (closed after the test).

    ``builtin_names`` are entry-point names (``command``, ``pass_rate``, ``native`` ...);
    only those load (an unknown one is an error naming the available ones), plus the
    core's defaults and the plugin objects in ``plugins``.
    """
    runners: list[CellRunner] = []

    def make(*builtins: str, plugins: Iterable[object] = (), tasks_dirs: Iterable[Path] = (),
             results: Optional[Path] = None) -> CellRunner:
        from .plugins import get_plugin_manager, load_entry_points

        pm = get_plugin_manager(entry_points=False, plugins=plugins)
        if builtins:
            load_entry_points(pm, only=set(builtins), strict=True)
        runner = CellRunner(pm, results or tmp_path / "results", tasks_dirs)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close()


__all__ = ["CellRunner", "default_task", "write_task"]
