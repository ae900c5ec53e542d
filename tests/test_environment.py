"""The environment is never the agent: what the machine lacks is an environment error, found before the agent runs.

And the converse for the verdict path: a plain ``pip install`` of the four
distributions (no pytest anywhere) gets its Python test runtime from cab.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.runner import RunOptions, Runner
from cab_core.tasks import TaskCatalog
from cab_core.testing import write_task

ROOT = Path(__file__).resolve().parents[1]


def test_a_task_whose_toolchain_is_absent_is_an_environment_error_naming_it(tmp_path):
    write_task(tmp_path / "tasks", "demo/add", extra='toolchain = ["cab-no-such-compiler"]\n')
    registry = Registry(get_plugin_manager())
    runner = Runner(registry, TaskCatalog(registry, tasks_dirs=[tmp_path / "tasks"]))
    try:
        result, folder = runner.run_cell(RunOptions(adapter="command", model="oracle", task="demo/add",
                                                    results=tmp_path / "results", timeout=60))
    finally:
        runner.close()
    assert result.status == "infra_error"
    assert result.error.startswith("environment: task demo/add needs cab-no-such-compiler")
    assert "install cab-no-such-compiler" in result.error
    assert result.exit_code is None  # found before the agent ran: no launch
    assert (folder / "cell.json").is_file()


def _clean_copy(source: Path, dest: Path, package: str) -> Path:
    """A distribution's pyproject, README and import package, without build leftovers or caches."""
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        if (source / name).is_file():
            shutil.copy2(source / name, dest / name)
    shutil.copytree(source / package, dest / package,
                    ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    return dest


@pytest.mark.slow
def test_a_plain_pip_install_runs_python_tasks_and_names_a_missing_toolchain(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # From clean copies: building in the checkout would leave build/ and *.egg-info there, and a stale
    # build/lib (a module since deleted) would be shipped in the next wheel built from it.
    sources = [_clean_copy(ROOT / sub, tmp_path / "src" / (sub or "core"), package)
               for sub, package in (("", "cab_core"), ("adapters", "cab_adapters"), ("scorers", "cab_scorers"),
                                    ("tasks", "cab_tasks"))]
    subprocess.run([*pip, *map(str, sources)], check=True)
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import pytest"], capture_output=True)
    assert probe.returncode != 0, "pytest must not be in the fresh environment"
    env = {**os.environ, "CAB_CACHE_DIR": str(tmp_path / "cache")}
    cab = str(venv / "bin" / "cab")
    proc = subprocess.run([cab, "run", "--adapter", "command", "--model", "oracle", "--task", "polyglot/python-slugify",
                           "--results", str(tmp_path / "results"), "--json"], capture_output=True, text=True, env=env)
    cell = json.loads(proc.stdout)
    assert cell["status"] == "ok", cell["error"]
    assert cell["scores"]["pass_rate"]["breakdown"]["pass"] == 1
    # A task needing a tool this machine lacks (PATH without it): an environment error, never a pass 0.
    tasks = tmp_path / "tasks"
    write_task(tasks, "demo/needs", extra='toolchain = ["cab-no-such-compiler"]\n')
    proc = subprocess.run([cab, "run", "--adapter", "command", "--model", "oracle", "--task", "demo/needs",
                           "--tasks-dir", str(tasks), "--results", str(tmp_path / "results"), "--json"],
                          capture_output=True, text=True, env=env)
    cell = json.loads(proc.stdout)
    assert cell["status"] == "infra_error" and "cab-no-such-compiler" in cell["error"]
