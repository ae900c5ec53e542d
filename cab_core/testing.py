"""A pytest plugin for people writing cab plugins (loaded automatically with cab-core).

Fixtures:

- ``cab_pm``: a fresh plugin manager with cab's specs and core defaults, no entry points;
- ``cab_register``: a context manager registering a plugin object for one block
  (``with cab_register(MyPlugin()): ...``), unregistered afterwards whatever happens;
- ``cab_cli``: run the ``cab`` CLI in-process against ``cab_pm``
  (``result = cab_cli("adapters", "--json")``);
- ``scripted_model_server``: the scripted OpenAI-compatible server on 127.0.0.1,
  stopped after the test;
- ``make_task``: write a task folder in the native format and return its path.
"""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path

import pytest


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
    """``make_task(task_id, files=..., solution=...)`` writes a task under a temporary folder."""

    def make(task_id: str = "demo/add", **kwargs) -> Path:
        return write_task(tmp_path / "tasks", task_id, **kwargs)

    return make
