"""What a task's tests need from the machine, found before the agent runs.

**The environment is never the agent.**  A test runtime the task needs but the
machine lacks (cargo, node, a C compiler) ends the cell as an environment error that
names what is missing and how to get it, before the agent starts.  Python tasks get
their test runtime from cab itself: a virtual environment in the cache holding the
task's declared test requirements (``test_requires``, pytest by default), created on
first use with the pip of the harness's interpreter (so from the package index the
user's pip is configured for), shared by every cell that asks for the same
requirements, and never one the agent can write to.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..errors import InfraError

#: How to get a missing tool, by name.
HINTS = {
    "cargo": "install Rust (https://rustup.rs, or apt-get install cargo)",
    "rustc": "install Rust (https://rustup.rs, or apt-get install rustc)",
    "node": "install Node.js (apt-get install nodejs)",
    "npm": "install npm (apt-get install npm)",
    "cc": "install a C compiler (apt-get install gcc)",
    "gcc": "install a C compiler (apt-get install gcc)",
    "g++": "install a C++ compiler (apt-get install g++)",
    "make": "install make (apt-get install make)",
    "cmake": "install cmake (apt-get install cmake)",
    "go": "install Go (apt-get install golang-go)",
    "java": "install a JDK (apt-get install default-jdk)",
    "javac": "install a JDK (apt-get install default-jdk)",
}
#: Toolchain names the Python test runtime provides.
PYTHON_TOOLS = {"python", "python3", "pytest"}
DEFAULT_PYTHON_REQUIRES = ("pytest",)


def cache_root() -> Path:
    """cab's cache: ``$CAB_CACHE_DIR``, else ``~/.cache/cab``."""
    configured = os.environ.get("CAB_CACHE_DIR")
    return Path(configured).expanduser().resolve() if configured else Path.home() / ".cache" / "cab"


def needs_python_runtime(task) -> bool:
    """Python tasks, and any whose test command runs Python or pytest (an imported task's run
    script, written for an image that has both, e.g. Terminal-Bench's ``python3 -m pytest``)."""
    tools = set(task.toolchain)
    command = task.test_command or ""
    return (bool(tools & PYTHON_TOOLS) or task.language.lower() == "python" or "pytest" in command
            or re.search(r"(^|[\s/;&|(])python3?(\s|$)", command) is not None)


def python_requirements(task) -> tuple[str, ...]:
    declared = tuple(getattr(task, "test_requires", ()) or ())
    return declared or DEFAULT_PYTHON_REQUIRES


def python_runtime(requirements: Sequence[str] = DEFAULT_PYTHON_REQUIRES) -> Path:
    """The bin folder of a cached virtual environment holding ``requirements``; made on first use.

    Raises :class:`InfraError` (``environment: ...``) when it cannot be made.
    """
    reqs = sorted(set(requirements))
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    key = hashlib.sha256("\n".join([sys.base_prefix, version, *reqs]).encode()).hexdigest()[:12]
    root = cache_root() / "runtimes" / f"python{version}-{key}"
    ready = root / ".cab-ready"
    if ready.exists():
        return root / "bin"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return root / "bin"
        if root.exists():
            shutil.rmtree(root)
        base = getattr(sys, "_base_executable", None) or sys.executable
        _step([base, "-m", "venv", str(root)], "create the Python test runtime")
        _step([str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *reqs],
              f"install {', '.join(reqs)} into the Python test runtime")
        ready.write_text("\n".join(reqs) + "\n")
    return root / "bin"


def _step(argv: list[str], what: str) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise InfraError(f"environment: cannot {what}: {exc}") from None
    if proc.returncode != 0:
        lines = [l for l in (proc.stderr or proc.stdout).strip().splitlines() if l.strip()]
        raise InfraError(f"environment: cannot {what}: {lines[-1][:200] if lines else f'exit {proc.returncode}'}")


def missing_tools(task, path: str) -> list[str]:
    """Toolchain entries of ``task`` not found on ``path`` (the Python ones are the runtime's job)."""
    return [tool for tool in task.toolchain if tool not in PYTHON_TOOLS and not shutil.which(tool, path=path)]


def preflight(task, path: str) -> Optional[Path]:
    """Check the task's test runtime before the agent runs; returns the Python runtime's bin, if any.

    Raises :class:`InfraError` naming what is missing and how to get it.
    """
    missing = missing_tools(task, path)
    if missing:
        hints = "; ".join(f"{tool}: {HINTS.get(tool, f'install {tool} and put it on PATH')}" for tool in missing)
        raise InfraError(f"environment: task {task.id} needs {', '.join(missing)}, not found on this machine ({hints})")
    if needs_python_runtime(task):
        return python_runtime(python_requirements(task))
    return None
