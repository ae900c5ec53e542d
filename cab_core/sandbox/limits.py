"""Resource limits for the commands a cell runs: processes, disk, memory.

:class:`Limits` says how much one command may use; :func:`Limits.from_options` reads
them from ``-o limit.NAME=VALUE`` (``pids``, ``disk``, ``memory``, ``files``; ``none`` switches
one off), then ``CAB_LIMIT_PIDS`` / ``CAB_LIMIT_DISK`` / ``CAB_LIMIT_MEMORY`` / ``CAB_LIMIT_FILES``, then
the defaults below.  How each is enforced:

* **processes** -- a cgroup per command (v1 ``pids``, or v2 where it is delegated to
  us) with ``pids.max``; every process the command starts is born inside it, so the
  cgroup is also how everything it left behind is found and killed, even a daemon
  that cleared its environment.  Hitting the limit stops the command (a fork bomb,
  not a build).  A non-root harness without cgroups falls back to RLIMIT_NPROC.
* **files** -- the entries (files, folders, links) the work directory and HOME may
  hold together, counted by the same walk as the disk: a million empty files cost
  nothing against the disk limit but every harness step after the agent pays per
  entry (default :data:`DEFAULT_FILES`).
* **disk** -- the work directory and HOME are measured while the command runs (an
  adaptive poll, so a fast writer may overshoot by about a second's writing) and
  once more when it ends; RLIMIT_FSIZE stops any single file (sparse ones too) at the
  limit, and folders may not nest deeper than :data:`MAX_DEPTH`.  In bubblewrap
  ``/tmp``, ``/dev/shm`` and ``/run`` are size-capped tmpfs.
* **memory** -- the same cgroup's memory controller (default :data:`DEFAULT_MEMORY`, the
  docker sandbox's: a command eating the host's memory would have the kernel kill
  whatever it picks, the harness or another cell included); an out-of-memory kill
  inside the cell is reported as a breach.

A breach ends the command and is reported in ``ProcessResult.error`` as
``limit exceeded: <what>`` (see :func:`cab_core.sandbox.procs.limit_exceeded`): the
agent failed, the harness did not.

This module holds the limits themselves and what applies them to one command
(:class:`Watch`, :func:`limit_prefix`); the cgroups live in :mod:`.cgroups`, the disk
measurement in :mod:`.disk` (both re-exported here).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Mapping, Optional

import attrs

from ..errors import CabError
from .cgroups import (CGROUP_PARENT, CGROUP_ROOT, CellCgroup, _counter, _own_cgroups,  # noqa: F401 (re-exported)
                      cgroup_mode, reap_stale)
from .disk import DEFAULT_FILES, MAX_DEPTH, MIN_CHARGE, DiskWatch, _measure, disk_usage, human  # noqa: F401 (re-exported)

DEFAULT_PIDS = 1024
DEFAULT_DISK = 4 * 1024**3
DEFAULT_MEMORY = 4 * 1024**3
#: The bubblewrap ``/tmp`` is memory: it gets the disk limit, but never more than this.
MAX_TMP = 1024**3
SHM_SIZE = 64 * 1024**2
RUN_SIZE = 1024**2

ENV_VARS = {"pids": "CAB_LIMIT_PIDS", "disk": "CAB_LIMIT_DISK", "memory": "CAB_LIMIT_MEMORY", "files": "CAB_LIMIT_FILES"}
COUNTS = ("pids", "files")
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
        noun = "a process count" if what == "pids" else "a count"
        raise CabError(f"limit {what}={text!r} is not {noun} of at least 8 (or none)")
    return int(value)



@attrs.frozen(kw_only=True)
class Limits:
    """How much one sandboxed command may use (``None``: no limit)."""

    pids: Optional[int] = DEFAULT_PIDS
    disk: Optional[int] = DEFAULT_DISK
    memory: Optional[int] = DEFAULT_MEMORY
    files: Optional[int] = DEFAULT_FILES

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
            values[name] = parse_count(raw, name) if name in COUNTS else parse_size(raw, name)
        return cls(**values)

    def describe(self) -> dict:
        """The limits, and how processes and memory are enforced here (``cgroups``: v1, v2 or none)."""
        return {"pids": self.pids, "disk": self.disk, "memory": self.memory, "files": self.files,
                "cgroups": cgroup_mode()}

    @property
    def tmp_size(self) -> int:
        return min(self.disk or MAX_TMP, MAX_TMP)


class Watch:
    """Everything checked while a command runs: the disk, and the cgroups' breach counters.

    Called between reads of the command's output, so it checks at most every
    ``interval`` seconds (a command printing fast would otherwise pay for it).
    """

    def __init__(self, disk: DiskWatch, cgroup: CellCgroup, *, interval: float = 0.25):
        self.disk, self.cgroup, self.interval = disk, cgroup, interval
        # nothing can have been breached before the command ran: the first look is an interval in
        # (a command that ends sooner is looked at once it has, with ``force``)
        self._next = time.monotonic() + interval

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
