"""Installing the agents cab drives: a cache of pinned versions, filled from the registries.

Each agent version lives in its own folder, ``<cache>/<name>/<version>/``, where the
cache is ``$CAB_AGENTS_DIR`` (default ``~/.cache/cab/agents``).  Installing is the
only step that may reach the network (npm or PyPI); a cell only reads the cache,
which the sandbox mounts read-only, so whatever an agent writes at run time must go
into the cell's private HOME.

A folder counts as installed only once :data:`MARKER` is written into it, last, so
an interrupted install is never mistaken for a finished one and is redone.

The cache must not be under ``/tmp``: the local sandbox gives every cell a fresh,
empty ``/tmp``, so an agent installed there would not be found inside it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

from .errors import CabError

#: Written into a prefix when its install finished (what :func:`is_installed` checks).
MARKER = "cab-install.json"
#: Longest an install step may take, in seconds (aider's venv takes about a minute).
INSTALL_TIMEOUT = 1800


class InstallError(CabError):
    """An agent could not be installed (the message ends with the installer's last words)."""


def agents_dir() -> Path:
    """The agent cache: ``$CAB_AGENTS_DIR``, else ``~/.cache/cab/agents``."""
    configured = os.environ.get("CAB_AGENTS_DIR")
    return Path(configured).expanduser().resolve() if configured else Path.home() / ".cache" / "cab" / "agents"


def agent_prefix(name: str, version: str) -> Path:
    """Where version ``version`` of agent ``name`` is (or would be) installed."""
    return agents_dir() / name / version


def is_installed(prefix: Path) -> bool:
    """Whether an install into ``prefix`` finished."""
    return (Path(prefix) / MARKER).is_file()


def prepare_prefix(prefix: Path) -> Path:
    """Make ``prefix`` an empty folder, removing what an earlier install left there.

    A non-empty folder outside the cache is removed only if it holds a finished
    install: a mistyped prefix must never cost anyone their files.
    """
    prefix = Path(prefix)
    if prefix.is_symlink() or prefix.is_file():
        raise InstallError(f"{prefix} is not a folder: choose an empty or new folder to install into")
    if prefix.is_dir() and any(prefix.iterdir()):
        if agents_dir().resolve() not in prefix.resolve().parents and not is_installed(prefix):
            raise InstallError(f"{prefix} is not empty and holds no agent install: choose an empty or new folder")
        shutil.rmtree(prefix)
    prefix.mkdir(parents=True, exist_ok=True)
    return prefix


def mark_installed(prefix: Path, **info) -> None:
    """Record that the install into ``prefix`` finished (call it last)."""
    record = {"installed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **info}
    (Path(prefix) / MARKER).write_text(json.dumps(record, indent=2) + "\n")


def run_step(argv: Sequence[str], *, what: str, cwd: Optional[Path] = None, env: Optional[dict] = None,
             timeout: float = INSTALL_TIMEOUT) -> None:
    """Run one install command; on failure raise :class:`InstallError` with its last output line."""
    try:
        proc = subprocess.run(list(argv), cwd=cwd, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise InstallError(f"{what}: {argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise InstallError(f"{what}: gave up after {timeout:g} s") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr + "\n" + proc.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if "ERR" in line or "error" in line.lower()] or lines
        raise InstallError(f"{what} failed (exit {proc.returncode}): {errors[-1] if errors else 'no output'}")


def npm_install(prefix: Path, package_spec: str, *more_specs: str, ignore_scripts: bool = False) -> Path:
    """``npm install --prefix PREFIX SPEC...``; returns ``PREFIX/node_modules``.

    Install scripts run as npm decides unless ``ignore_scripts`` (opencode's postinstall
    only links the platform binary that came as an optional dependency).
    """
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError(f"installing {package_spec} needs npm (apt-get install npm, or install Node.js)")
    prefix = Path(prefix)
    prefix.mkdir(parents=True, exist_ok=True)
    argv = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--no-update-notifier",
            "--loglevel", "error"]
    if ignore_scripts:
        argv.append("--ignore-scripts")
    run_step([*argv, package_spec, *more_specs], what=f"npm install {package_spec}", cwd=prefix)
    return prefix / "node_modules"


def venv_install(prefix: Path, requirement: str, *more: str, python: Optional[str] = None) -> Path:
    """Make a virtual environment at ``prefix`` and pip-install ``requirement`` into it.

    The agent gets its own environment, never cab's: its dependencies are its own
    business.  Returns the environment's ``bin`` folder.
    """
    prefix = Path(prefix)
    base = python or getattr(sys, "_base_executable", None) or sys.executable
    run_step([base, "-m", "venv", str(prefix)], what=f"python -m venv {prefix}")
    pip = prefix / "bin" / "pip"
    run_step([str(pip), "install", "--quiet", "--disable-pip-version-check", requirement, *more],
             what=f"pip install {requirement}")
    return prefix / "bin"


def version_of(argv: Sequence[str], *, env: Optional[dict] = None, timeout: float = 60) -> Optional[str]:
    """The last line naming a version (``N.N``) an agent prints for ``argv`` (e.g. ``[bin, '--version']``).

    Else its last line; None if it fails.  Some agents add a line after the version
    (Copilot CLI: "Run 'copilot update' to check for updates.").
    """
    try:
        proc = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (proc.stdout or proc.stderr).strip()
    if proc.returncode != 0 or not text:
        return None
    lines = [line.strip() for line in text.splitlines()]
    return next((line for line in reversed(lines) if re.search(r"\d+\.\d+", line)), lines[-1])


__all__ = [
    "MARKER",
    "InstallError",
    "agents_dir",
    "agent_prefix",
    "is_installed",
    "prepare_prefix",
    "mark_installed",
    "run_step",
    "npm_install",
    "venv_install",
    "version_of",
]
