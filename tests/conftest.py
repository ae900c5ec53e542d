"""Shared helpers for cab's own tests (fixtures for plugin authors live in cab_core.testing)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CAB = str(VENV_BIN / "cab")


def run_cab(*args, env=None, cwd=None, timeout=300, check=False):
    """Run the installed ``cab`` console script as a user would."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([CAB, *map(str, args)], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"cab {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def cab():
    return run_cab
