"""Resource limits for the commands a cell runs: processes, disk, memory.

:class:`Limits` says how much one command may use; :func:`Limits.from_options` reads
them from ``-o limit.NAME=VALUE`` (``pids``, ``disk``, ``memory``; ``none`` switches
one off), then ``CAB_LIMIT_PIDS`` / ``CAB_LIMIT_DISK`` / ``CAB_LIMIT_MEMORY``, then
the defaults below.  How each is enforced:

* **processes** -- a cgroup per command (v1 ``pids``, or v2 where it is delegated to
  us) with ``pids.max``; every process the command starts is born inside it, so the
  cgroup is also how everything it left behind is found and killed, even a daemon
  that cleared its environment.  Hitting the limit stops the command (a fork bomb,
  not a build).  A non-root harness without cgroups falls back to RLIMIT_NPROC.
* **disk** -- the work directory and HOME are measured while the command runs (an
  adaptive poll, so a fast writer may overshoot by about a second's writing) and
  once more when it ends; RLIMIT_FSIZE stops any single file (sparse ones too) at the
  limit, and folders may not nest deeper than :data:`MAX_DEPTH`.  In bubblewrap
  ``/tmp``, ``/dev/shm`` and ``/run`` are size-capped tmpfs.
* **memory** -- optional (off by default): the same cgroup's memory controller; an
  out-of-memory kill inside the cell is reported as a breach.

A breach ends the command and is reported in ``ProcessResult.error`` as
``limit exceeded: <what>`` (see :func:`cab_core.sandbox.procs.limit_exceeded`): the
agent failed, the harness did not.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import time
import uuid
from pathlib import Path
from typing import Iterable, Mapping, Optional

import attrs

from ..errors import CabError
from . import procs
from .procs import LIMIT_EXCEEDED

DEFAULT_PIDS = 1024
DEFAULT_DISK = 4 * 1024**3
#: The bubblewrap ``/tmp`` is memory: it gets the disk limit, but never more than this.
MAX_TMP = 1024**3
SHM_SIZE = 64 * 1024**2
RUN_SIZE = 1024**2
#: Every file is charged at least this much, so a million empty files count too.
MIN_CHARGE = 512
#: Folders nested deeper than this break tools that recurse (Python's copytree among them).
MAX_DEPTH = 128

CGROUP_ROOT = Path(os.environ.get("CAB_CGROUP_ROOT", "/sys/fs/cgroup"))
CGROUP_PARENT = "cab"
ENV_VARS = {"pids": "CAB_LIMIT_PIDS", "disk": "CAB_LIMIT_DISK", "memory": "CAB_LIMIT_MEMORY"}
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str, what: str) -> Optional[int]:
    """``"512M"`` -> bytes (K, M, G, T are powers of 1024); ``none``/``off``/``0`` -> ``None``."""
    value = str(text).strip().lower()
    if value in ("none", "off", "0", "unlimited"):
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?", value)
    if not match:
        raise CabError(f"limit {what}={text!r} is not a size (e.g. 512M, 4G, or none)")
    size = int(float(match.group(1)) * _UNITS[match.group(2)])
    if size < 4096:
        raise CabError(f"limit {what}={text!r} is too small (at least 4K)")
    return size


def parse_count(text: str, what: str) -> Optional[int]:
    value = str(text).strip().lower()
    if value in ("none", "off", "0", "unlimited"):
        return None
    if not value.isdigit() or int(value) < 8:
        raise CabError(f"limit {what}={text!r} is not a process count of at least 8 (or none)")
    return int(value)


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover


@attrs.frozen(kw_only=True)
class Limits:
    """How much one sandboxed command may use (``None``: no limit)."""

    pids: Optional[int] = DEFAULT_PIDS
    disk: Optional[int] = DEFAULT_DISK
    memory: Optional[int] = None

    @classmethod
    def from_options(cls, options: Optional[Mapping[str, str]] = None, env: Optional[Mapping[str, str]] = None) -> "Limits":
        """Limits from ``limit.*`` options (keys without the prefix), the environment, the defaults."""
        options = dict(options or {})
        env = os.environ if env is None else env
        unknown = sorted(set(options) - set(ENV_VARS))
        if unknown:
            raise CabError(f"unknown limit {unknown[0]!r} (available: {', '.join(sorted(ENV_VARS))})")
        values = {}
        for name, var in ENV_VARS.items():
            raw = options.get(name, env.get(var))
            if raw is None:
                continue
            values[name] = parse_count(raw, name) if name == "pids" else parse_size(raw, name)
        return cls(**values)

    def describe(self) -> dict:
        """The limits, and how processes and memory are enforced here (``cgroups``: v1, v2 or none)."""
        return {"pids": self.pids, "disk": self.disk, "memory": self.memory, "cgroups": cgroup_mode()}

    @property
    def tmp_size(self) -> int:
        return min(self.disk or MAX_TMP, MAX_TMP)


# --------------------------------------------------------------------------- cgroups


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

    def __init__(self, limits: Limits):
        self.limits = limits
        self.dirs: list[Path] = []
        self.kinds: dict[str, Path] = {}
        self.name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
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

    def pids(self) -> set[int]:
        """Every process in the command's cgroups."""
        return _pids_in(self.dirs)

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
        """Kill what is left, remove the cgroups; return how many processes had to be killed."""
        killed = _kill_all(self.dirs)
        for folder in self.dirs:
            _rmdir(folder)
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


# --------------------------------------------------------------------------- disk


def disk_usage(paths: Iterable[Path], stop_at: Optional[int] = None) -> int:
    """Bytes the files below ``paths`` take (apparent or allocated size, whichever is larger).

    Symlinks are not followed; every entry is charged at least :data:`MIN_CHARGE`.
    Stops counting once ``stop_at`` is passed.
    """
    return _measure(paths, stop_at)[0]


def _measure(paths: Iterable[Path], stop_at: Optional[int] = None) -> tuple[int, int]:
    """``(bytes, deepest folder level)`` below ``paths``, walked without recursion."""
    total = deepest = 0
    stack = [(str(p), 0) for p in paths]
    while stack:
        top, depth = stack.pop()
        deepest = max(deepest, depth)
        try:
            entries = os.scandir(top)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += max(st.st_size if stat.S_ISREG(st.st_mode) else 0, st.st_blocks * 512, MIN_CHARGE)
                if stat.S_ISDIR(st.st_mode):
                    stack.append((entry.path, depth + 1))
        if stop_at is not None and total > stop_at:
            break
    return total, deepest


class DiskWatch:
    """Polls the size of a command's writable folders; :meth:`check` says when it is too big.

    The poll interval adapts to how long a walk takes (at most a fifth of the time is
    spent measuring), so a work directory with many files does not slow the cell.
    """

    def __init__(self, paths: Iterable[Path], limit: Optional[int], *, interval: float = 1.0):
        self.paths = [Path(p) for p in paths]
        self.limit = limit
        self.interval = interval
        self._next = time.monotonic() + interval
        self.peak = 0

    def check(self, force: bool = False) -> Optional[str]:
        if self.limit is None or (not force and time.monotonic() < self._next):
            return None
        t0 = time.monotonic()
        used, deepest = _measure(self.paths, stop_at=self.limit)
        spent = time.monotonic() - t0
        self._next = time.monotonic() + max(self.interval, 4 * spent)
        self.peak = max(self.peak, used)
        where = " and ".join(str(p) for p in self.paths)
        if used > self.limit:
            return f"{LIMIT_EXCEEDED}: disk: {where} grew past {human(self.limit)}"
        if deepest > MAX_DEPTH:
            return f"{LIMIT_EXCEEDED}: disk: folders nested more than {MAX_DEPTH} deep in {where}"
        return None


class Watch:
    """Everything checked while a command runs: the disk, and the cgroups' breach counters.

    Called between reads of the command's output, so it checks at most every
    ``interval`` seconds (a command printing fast would otherwise pay for it).
    """

    def __init__(self, disk: DiskWatch, cgroup: CellCgroup, *, interval: float = 0.25):
        self.disk, self.cgroup, self.interval = disk, cgroup, interval
        self._next = 0.0

    def __call__(self, force: bool = False) -> Optional[str]:
        now = time.monotonic()
        if not force and now < self._next:
            return None
        self._next = now + self.interval
        return self.cgroup.breach() or self.disk.check(force=force)


def limit_prefix(limits: Limits, cgroup: CellCgroup) -> list[str]:
    """argv prefix that joins the cgroups and sets the rlimits, then execs the command."""
    script = cgroup.join_script()
    if limits.disk is not None:
        script += f"ulimit -f {max(limits.disk // 512, 1)} 2>/dev/null; "
    if limits.pids is not None and "pids" not in cgroup.kinds and os.geteuid() != 0:
        # No cgroup: RLIMIT_NPROC counts the user's processes, so allow for those running already.
        script += f"ulimit -u {limits.pids + _user_process_count()} 2>/dev/null; "
    if not script:
        return []
    return ["/bin/sh", "-c", script + 'exec "$@"', "cab-limits"]


def _user_process_count() -> int:
    uid = os.getuid()
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count
