"""Tests of the example-shell adapter: in-process with cab's fixtures, then a real cell."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cab_adapter_example_shell as plugin
from cab_core import LaunchContext, Task
from cab_core.testing import write_task


def _context(tmp_path, **options):
    task = Task(id="demo/add", prompt="Fix add() in calc.py so that it adds.", language="python",
                test_command="python -m pytest -q", workspace=tmp_path / "workspace")
    return LaunchContext(task=task, model="scripted/noop", workdir=tmp_path, home=tmp_path / "home",
                         base_url="http://127.0.0.1:1/v1", api_key="dummy", options=options)


def test_listed_by_cab(cab_register, cab_cli):
    with cab_register(plugin, name="example-shell"):
        result = cab_cli("adapters", "--json")
    names = [row["name"] for row in json.loads(result.output)]
    assert "example-shell" in names


def test_launch_runs_the_script_with_the_prompt(tmp_path):
    spec = plugin.build_launch(_context(tmp_path, script="echo hi"))
    assert spec.argv == ("/bin/sh", "-c", "echo hi")
    assert spec.env["CAB_PROMPT"].startswith("Fix add()")
    assert spec.env["OPENAI_BASE_URL"] == "http://127.0.0.1:1/v1"
    assert "OPENAI_API_KEY" in spec.secret_env
    default = plugin.build_launch(_context(tmp_path))
    proc = subprocess.run(default.argv, cwd=tmp_path, env={**os.environ, **default.env}, capture_output=True, text=True)
    assert proc.returncode == 0 and (tmp_path / "PROMPT.txt").read_text().startswith("Fix add()")
    assert plugin.final_output(proc.stdout) == "example-shell wrote PROMPT.txt"


def _cab():
    found = Path(sys.executable).with_name("cab")
    return str(found) if found.exists() else shutil.which("cab")


@pytest.mark.slow
@pytest.mark.skipif(_cab() is None, reason="the cab console script is not installed")
def test_a_real_cell_with_the_installed_plugin(tmp_path):
    write_task(tmp_path / "tasks")
    fix = "sed -i 's/a - b/a + b/' calc.py"
    proc = subprocess.run(
        [_cab(), "run", "--adapter", "example-shell", "--model", "scripted/noop", "--task", "demo/add",
         "--tasks-dir", str(tmp_path / "tasks"), "--results", str(tmp_path / "results"), "-o", f"script={fix}",
         "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    cell = json.loads(proc.stdout)
    assert cell["status"] == "ok"
    assert cell["scores"]["pass_rate"]["value"] == 1.0
