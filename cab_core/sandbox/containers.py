"""Container plumbing of the docker sandbox: what a launch's Python needs, the watch, kill, remove.

Split out of :mod:`cab_core.sandbox.docker` (which keeps the session and re-exports
these): :func:`module_closure` finds the packages a ``python -m MODULE`` launch
imports so they can be mounted into the image; :class:`_Watch` checks a running
container's cgroup counters and folders; the rest are the docker SDK calls each
command makes once (kill, remove, state) with their failures made quiet or one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from .. import images
from ..errors import InfraError
from .limits import DiskWatch, _counter, human
from .procs import is_harness_python as _is_harness_python  # noqa: F401  (re-exported to docker.py)
from .procs import LIMIT_EXCEEDED

CGROUP_ROOT = Path("/sys/fs/cgroup")
LABEL_CELL = "cab.cell"
LABEL_SESSION = "cab.session"

_closures: dict[str, dict[str, str]] = {}


def _host_cpus() -> float:
    try:
        return float(len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return float(os.cpu_count() or 1)


def _host_agents_dir() -> Optional[str]:
    try:
        from ..agents import agents_dir
    except ImportError:  # pragma: no cover - the agent cache module is optional
        return None
    return str(agents_dir())


_CLOSURE_SCRIPT = r"""
import importlib, json, os, sys
std = os.path.dirname(os.__file__)
before = set(sys.modules)
importlib.import_module(sys.argv[1])
found = {}
for name in sorted(set(sys.modules) - before):
    top = name.partition(".")[0]
    module = sys.modules.get(top)
    path = getattr(module, "__file__", None)
    if top in found or top in before or not path:
        continue
    parts = path.split(os.sep)
    if path.startswith(std + os.sep) and "site-packages" not in parts and "dist-packages" not in parts:
        continue
    found[top] = os.path.dirname(path) if hasattr(module, "__path__") else path
print(json.dumps(found))
"""


def module_closure(module: str) -> dict[str, str]:
    """Top-level name -> host path (package folder or module file) of what importing ``module`` loads.

    Only what lies outside the standard library; computed once per module, in a
    separate interpreter so the harness's own imports do not hide anything.
    """
    if module not in _closures:
        proc = subprocess.run([sys.executable, "-I", "-c", _CLOSURE_SCRIPT, module], capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise InfraError(f"cannot run python -m {module} in a container: importing it on the host failed: {last}")
        _closures[module] = json.loads(proc.stdout)
    return _closures[module]


class _Watch:
    """What is checked while a container runs: its folders' size, its cgroup's breach counters."""

    def __init__(self, container_id: str, disk: DiskWatch, pids: Optional[int], memory: int, *, interval: float = 0.25):
        self.container_id, self.disk, self.pids, self.memory, self.interval = container_id, disk, pids, memory, interval
        self.folders: dict[str, Path] = {}
        self._next = 0.0

    def __call__(self, force: bool = False) -> Optional[str]:
        now = time.monotonic()
        if not force and now < self._next:
            return None
        self._next = now + self.interval
        # The cgroup exists only while the container runs (a breach in one that ended at
        # once is seen by its own failure; docker's OOMKilled still tells a memory one).
        self.folders = self.folders or _container_cgroups(self.container_id)
        pids = self.folders.get("pids")
        if pids is not None and _counter(pids / "pids.events", "max") > 0:
            return f"{LIMIT_EXCEEDED}: processes: the command tried to run more than {self.pids} at once"
        memory = self.folders.get("memory")
        if memory is not None and (_counter(memory / "memory.oom_control", "oom_kill")
                                   + _counter(memory / "memory.events", "oom_kill")) > 0:
            return f"{LIMIT_EXCEEDED}: memory: a process was killed for using more than {human(self.memory)}"
        return self.disk.check(force=force)


def _container_cgroups(container_id: str) -> dict[str, Path]:
    """controller -> the container's cgroup folder, where docker's default places put it (v1 or v2)."""
    found = {}
    for controller in ("pids", "memory"):
        for folder in (CGROUP_ROOT / controller / "docker" / container_id,  # v1, cgroupfs driver
                       CGROUP_ROOT / controller / "system.slice" / f"docker-{container_id}.scope",  # v1, systemd
                       CGROUP_ROOT / "docker" / container_id,  # v2, cgroupfs driver
                       CGROUP_ROOT / "system.slice" / f"docker-{container_id}.scope"):  # v2, systemd
            if folder.is_dir():
                found[controller] = folder
                break
    return found


def _connect():
    try:
        return images.client()
    except images.DockerUnavailable as exc:
        raise InfraError(str(exc)) from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _kill(container) -> int:
    """SIGKILL the container; returns how many processes it had (1 if that cannot be told)."""
    try:
        count = len(container.top().get("Processes") or []) or 1
    except Exception:
        count = 1
    try:
        container.kill()
    except Exception:  # it ended on its own meanwhile
        return 0
    try:
        container.wait(timeout=30)
    except Exception:
        pass
    return count


def _remove(container) -> None:
    try:
        container.remove(force=True)
    except Exception as exc:
        if "No such container" not in str(exc) and "is already in progress" not in str(exc):
            print(f"cab: warning: could not remove container {container.short_id}: {_one_line(exc)}", file=sys.stderr)


def _state(container) -> dict:
    try:
        container.reload()
        return dict(container.attrs.get("State") or {})
    except Exception:
        return {}


def _active_ms(state: dict) -> Optional[float]:
    """How long the container ran: its start to its end, as docker recorded them."""
    started, finished = images.parse_time(state.get("StartedAt", "")), images.parse_time(state.get("FinishedAt", ""))
    if started is None or finished is None or finished < started:
        return None
    return (finished - started).total_seconds() * 1000


def remove_containers(label: str = LABEL_CELL, *, docker_client=None) -> int:
    """Remove every container carrying ``label`` (all of cab's by default); returns how many."""
    dc = docker_client or images.client()
    found = dc.containers.list(all=True, filters={"label": label})
    for container in found:
        _remove(container)
    return len(found)


