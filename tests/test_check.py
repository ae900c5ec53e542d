"""``cab check``: a provisional result on a small sample, written nowhere, runnable with nothing installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from click.testing import CliRunner

from cab_core.agents import agent_prefix, is_installed
from cab_core.cli import make_cli
from cab_core.plugins import get_plugin_manager

ROOT = Path(__file__).resolve().parents[1]


def cab(*args):
    return CliRunner().invoke(make_cli(get_plugin_manager), list(args), catch_exceptions=False)


@pytest.mark.slow
def test_check_prints_a_provisional_result_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cab("check", "--adapter", "command", "--model", "oracle", "--task", "polyglot/c-string-trim")
    assert result.exit_code == 0, result.output
    assert "provisional — not for citation" in result.output.splitlines()[-1]
    assert "passed 1/1" in result.output
    assert list(tmp_path.iterdir()) == []  # no results folder, no index


def test_check_names_an_unknown_adapter_in_one_line():
    result = cab("check", "--adapter", "nope", "--model", "x")
    assert result.exit_code == 2 and "unknown adapter 'nope'" in result.output


@pytest.mark.slow
def test_check_runs_pi_from_a_zero_install_run(tmp_path):
    uvx = shutil.which("uvx", path=str(Path(sys.executable).parent)) or shutil.which("uvx")
    assert uvx, "uv is a test requirement (pyproject [test])"
    from cab_adapters import pi

    assert is_installed(agent_prefix("pi", pi.run_version())), "scripts/install-agents.sh installs pi"
    proc = subprocess.run([uvx, "--from", str(ROOT), "--with", str(ROOT / "adapters"), "--with", str(ROOT / "scorers"),
                           "--with", str(ROOT / "tasks"), "cab", "check", "--adapter", "pi", "--model", "scripted/oracle",
                           "--task", "polyglot/python-slugify"], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache")}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "passed 1/1 — provisional — not for citation" in proc.stdout
    assert not (tmp_path / "results").exists()
