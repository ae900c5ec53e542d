"""Finding and killing what a cell started, including processes that left its group."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

MARKER_VAR = "CAB_CELL_MARKER"
#: How ``ProcessResult.error`` starts when a command was stopped for breaking a
#: resource limit (processes, disk, memory): the agent's failure, not the harness's.
LIMIT_EXCEEDED = "limit exceeded"


def limit_exceeded(result) -> Optional[str]:
    """The breach a :class:`~cab_core.models.ProcessResult` reports, or ``None``."""
    error = getattr(result, "error", None) or ""
    return error if error.startswith(LIMIT_EXCEEDED) else None


def kill_group(pid: int) -> int:
    """SIGKILL the process group led by ``pid``; return 1 if there was one to kill."""
    try:
        os.killpg(pid, signal.SIGKILL)
        return 1
    except (ProcessLookupError, PermissionError):
        return 0


def marked_pids(marker: str) -> list[int]:
    """Pids of live processes whose environment carries ``CAB_CELL_MARKER=<marker>``."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def kill_until_gone(find: Callable[[], Iterable[int]], *, rounds: int = 5, pause: float = 0.02) -> int:
    """SIGKILL whatever ``find()`` returns, again until it returns nothing (forks race kills)."""
    killed = 0
    for _ in range(rounds):
        pids = list(find())
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(pause)
    return killed


def kill_marked(marker: str, *, rounds: int = 5) -> int:
    """SIGKILL every process carrying the marker (daemons that double-forked included)."""
    return kill_until_gone(lambda: marked_pids(marker), rounds=rounds)
