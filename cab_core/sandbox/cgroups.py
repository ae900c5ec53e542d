"""One cgroup per sandboxed command: the process (and optional memory) limit, and the kill switch.

Every process a command starts is born inside its cgroup, so the cgroup is both how
``pids.max`` is enforced and how everything the command left behind is found and
killed, even a daemon that cleared its environment.  v1 ``pids`` and a delegated v2
hierarchy both work; :func:`cgroup_mode` says which one this harness can use
(``none``: the limits that need cgroups fall back to rlimits, see
:func:`cab_core.sandbox.limits.limit_prefix`).  Split out of :mod:`cab_core.sandbox.limits`,
which re-exports these names.
"""

from __future__ import annotations

import os
import shlex
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Optional

from . import procs
from .disk import human
from .procs import LIMIT_EXCEEDED

CGROUP_ROOT = Path(os.environ.get("CAB_CGROUP_ROOT", "/sys/fs/cgroup"))
CGROUP_PARENT = "cab"


def _own_cgroups() -> dict[str, str]:
    """controller -> this process's cgroup path (``""`` for the v2 unified hierarchy)."""
    out = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            out[controller] = parts[2]
    return out


def _write(path: Path, text: str) -> bool:
    try:
        path.write_text(text)
        return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class CellCgroup:
    """One command's cgroups (pids, and memory when limited); ``close()`` kills and removes them.

    ``dirs`` lists the cgroup folders the command joins; empty when cgroups are not
    available here (then the limits that need them are simply not enforced).
    """

    def __init__(self, limits: Any, *, parked: bool = False):  # a sandbox.limits.Limits (its pids and memory)
        self.limits = limits
        self.dirs: list[Path] = []
        self.kinds: dict[str, Path] = {}
        self.token = uuid.uuid4().hex[:12]
        # A parked launcher's (see sandbox.parked) says so until it is handed its command: claim().
        self.name = f"{os.getpid()}-parked-{self.token}" if parked else f"{os.getpid()}-{self.token}"
        if limits.pids is None and limits.memory is None:
            return
        own = _own_cgroups()
        wanted = [c for c, on in (("pids", limits.pids), ("memory", limits.memory)) if on]
        for controller in wanted:
            folder = CGROUP_ROOT / controller
            if controller in own and (folder / "cgroup.procs").exists():
                self._make_v1(controller, _base(folder, own[controller]))
        missing = [c for c in wanted if c not in self.kinds]
        if missing and "" in own and (CGROUP_ROOT / "cgroup.controllers").exists():
            self._make_v2(missing, _base(CGROUP_ROOT, own[""]))

    def _make_v1(self, controller: str, base: Path) -> None:
        parent = base / CGROUP_PARENT
        try:
            parent.mkdir(exist_ok=True)
            reap_stale(parent)
            folder = parent / self.name
            folder.mkdir()
        except OSError:
            return
        ok = _write(folder / "pids.max", str(self.limits.pids)) if controller == "pids" else (
            _write(folder / "memory.limit_in_bytes", str(self.limits.memory)))
        if controller == "memory" and ok:
            _write(folder / "memory.memsw.limit_in_bytes", str(self.limits.memory))  # no swapping around it
        if not ok:
            _rmdir(folder)
            return
        self.dirs.append(folder)
        self.kinds[controller] = folder

    def _make_v2(self, controllers: list[str], base: Path) -> None:
        parent = base / CGROUP_PARENT
        try:
            parent.mkdir(exist_ok=True)
            reap_stale(parent)
            enabled = (parent / "cgroup.subtree_control").read_text().split()
            for controller in controllers:
                if controller not in enabled:
                    _write(parent / "cgroup.subtree_control", f"+{controller}")
            folder = parent / self.name
            folder.mkdir()
        except OSError:
            return
        done = []
        if "pids" in controllers and _write(folder / "pids.max", str(self.limits.pids)):
            done.append("pids")
        if "memory" in controllers and _write(folder / "memory.max", str(self.limits.memory)):
            _write(folder / "memory.swap.max", "0")
            done.append("memory")
        if not done:
            _rmdir(folder)
            return
        self.dirs.append(folder)
        for controller in done:
            self.kinds[controller] = folder

    # ---------------------------------------------------------------- use
    def join_script(self) -> str:
        """Shell lines that move the shell itself into every cgroup (before it execs the command)."""
        return "".join(f"echo $$ > {shlex.quote(str(d / 'cgroup.procs'))} || exit 125; " for d in self.dirs)

    def claim(self) -> None:
        """Rename a parked launcher's cgroups to a command's usual name (they now hold the command)."""
        name = f"{os.getpid()}-{self.token}"
        renamed = {}
        for folder in self.dirs:
            target = folder.with_name(name)
            try:
                os.rename(folder, target)
            except OSError:
                target = folder
            renamed[folder] = target
        self.dirs = [renamed[d] for d in self.dirs]
        self.kinds = {k: renamed.get(v, v) for k, v in self.kinds.items()}
        self.name = name

    def pids(self) -> set[int]:
        """Every process in the command's cgroups."""
        return _pids_in(self.dirs)

    def holds(self, pid: int) -> bool:
        """Whether ``pid`` has joined every one of the cgroups (one per controller, joined one by one)."""
        return all(pid in _pids_in([folder]) for folder in self.dirs)

    def breach(self) -> Optional[str]:
        """What limit the command hit, if any (read from the cgroups' event counters)."""
        folder = self.kinds.get("pids")
        if folder is not None and _counter(folder / "pids.events", "max") > 0:
            return f"{LIMIT_EXCEEDED}: processes: the command tried to run more than {self.limits.pids} at once"
        folder = self.kinds.get("memory")
        if folder is not None:
            oom = _counter(folder / "memory.oom_control", "oom_kill") + _counter(folder / "memory.events", "oom_kill")
            if oom > 0:
                return f"{LIMIT_EXCEEDED}: memory: a process was killed for using more than {human(self.limits.memory)}"
        return None

    def kill_all(self) -> int:
        """SIGKILL everything in the cgroups until they are empty; return how many kills were sent."""
        return _kill_all(self.dirs)

    def close(self) -> int:
        """Kill what is left, remove the cgroups; return how many processes had to be killed.

        The folders are removed in the background (:func:`..workspace.trash.later`): an ``rmdir``
        waits for the kernel to finish reaping (EBUSY, retried every 20 ms), and nothing is left
        in them to wait for.
        """
        from ..workspace import trash

        killed = _kill_all(self.dirs)
        for folder in self.dirs:
            trash.later(folder, _rmdir)
        self.dirs, self.kinds = [], {}
        return killed


def _base(mount: Path, own: str) -> Path:
    """This process's cgroup folder under ``mount`` (the mount itself inside a cgroup namespace)."""
    folder = mount / own.lstrip("/")
    return folder if folder.is_dir() else mount


def _pids_in(folders: Iterable[Path]) -> set[int]:
    found: set[int] = set()
    for folder in folders:
        try:
            found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
        except (OSError, ValueError):
            pass
    return found


def _kill_all(folders: list[Path], rounds: int = 50) -> int:
    killed = 0
    for folder in folders:
        if (folder / "cgroup.kill").exists() and _write(folder / "cgroup.kill", "1"):  # v2: one atomic kill
            killed += len(_pids_in([folder]))
    return killed + procs.kill_until_gone(lambda: _pids_in(folders), rounds=rounds, pause=0.01)


def _counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _rmdir(folder: Path, attempts: int = 50) -> None:
    for _ in range(attempts):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # EBUSY while the last processes are being reaped
            time.sleep(0.02)


def reap_stale(parent: Path) -> int:
    """Remove cgroups left by a harness that died (SIGKILL): kill what is in them, then rmdir.

    A cgroup's name starts with the pid of the harness that made it; a live owner's
    cgroups are left alone.
    """
    reaped = 0
    try:
        children = [p for p in parent.iterdir() if p.is_dir()]
    except OSError:
        return 0
    for folder in children:
        owner = folder.name.split("-", 1)[0]
        if not owner.isdigit() or _alive(int(owner)):
            continue
        _kill_all([folder])
        _rmdir(folder)
        reaped += 1
    return reaped


_MODE: Optional[str] = None


def cgroup_mode() -> str:
    """``v1`` or ``v2`` when this harness can make the cgroups limits need, else ``none``."""
    global _MODE
    if _MODE is None:
        own = _own_cgroups()
        v1 = CGROUP_ROOT / "pids"
        if "pids" in own and (v1 / "cgroup.procs").exists() and os.access(_base(v1, own["pids"]), os.W_OK):
            _MODE = "v1"
        elif "" in own and (CGROUP_ROOT / "cgroup.controllers").exists() and os.access(_base(CGROUP_ROOT, own[""]), os.W_OK):
            _MODE = "v2"
        else:
            _MODE = "none"
    return _MODE
