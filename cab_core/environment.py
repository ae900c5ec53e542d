"""The environment a sandboxed command gets: nothing inherited but toolchain locations."""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path
from typing import Optional

from .sandbox import procs

STANDARD_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
TOOLCHAINS = ("cargo", "node", "go", "gcc", "javac", "npm")


@functools.lru_cache(maxsize=8)
def _toolchain_dirs(path_var: str) -> tuple[str, ...]:
    """The folders of the :data:`TOOLCHAINS` found on ``path_var`` (looked up once per PATH: every command asks)."""
    found = (shutil.which(tool, path=path_var) for tool in TOOLCHAINS)
    return tuple(dict.fromkeys(str(Path(f).parent) for f in found if f))


def agent_env(home: Path, marker: str, runtime: Optional[Path] = None) -> dict[str, str]:
    """A clean environment for a sandboxed command: nothing inherited but toolchain locations.

    ``runtime`` (the task's Python test runtime's bin folder) comes first on PATH.
    """
    path = ([str(runtime)] if runtime else []) + [str(Path(sys.executable).parent)]
    path += [p for p in _toolchain_dirs(os.environ.get("PATH", os.defpath)) if p not in path]
    path += [p for p in STANDARD_PATH if p not in path]
    env = {
        "PATH": os.pathsep.join(path),
        "HOME": str(home),
        "USER": os.environ.get("USER", "cab"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "xterm-256color",
        "TMPDIR": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "NO_COLOR": "1",
        procs.MARKER_VAR: marker,
    }
    real_home = Path(os.path.expanduser("~"))
    for var, default in (("RUSTUP_HOME", real_home / ".rustup"), ("CARGO_HOME", real_home / ".cargo")):
        value = os.environ.get(var) or (str(default) if default.exists() else None)
        if value:
            env[var] = value
    return env
