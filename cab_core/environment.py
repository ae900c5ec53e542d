"""The environment a sandboxed command gets: nothing inherited but toolchain locations."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Optional

from .sandbox import procs

STANDARD_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
TOOLCHAINS = ("cargo", "node", "go", "gcc", "javac", "npm")


def agent_env(home: Path, marker: str, runtime: Optional[Path] = None) -> dict[str, str]:
    """A clean environment for a sandboxed command: nothing inherited but toolchain locations.

    ``runtime`` (the task's Python test runtime's bin folder) comes first on PATH.
    """
    path = ([str(runtime)] if runtime else []) + [str(Path(sys.executable).parent)]
    for tool in TOOLCHAINS:
        found = shutil.which(tool)
        if found and str(Path(found).parent) not in path:
            path.append(str(Path(found).parent))
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
