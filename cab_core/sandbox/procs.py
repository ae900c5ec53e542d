"""Finding and killing what a cell started, including processes that left its group."""

from __future__ import annotations

import os
import signal
import sys
import threading
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
    """SIGKILL whatever ``find()`` returns, again until it returns nothing (forks race kills).

    The pause between looks grows from 1 ms to ``pause``: a process killed (or already dying
    with its PID namespace) is usually gone within a millisecond or two.
    """
    killed = 0
    for turn in range(rounds):
        pids = list(find())
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(min(pause, 0.001 * 2 ** turn))
    return killed


#: Per marker: commands a sandbox started with it (``note_launch``), and that count as of the
#: last sweep that found none of its processes left.  Only sandboxes that call
#: ``note_launch`` (the local one) get a sweep skipped; for any other every sweep scans.
_LAUNCHED: dict[str, int] = {}
_CLEAN_AT: dict[str, int] = {}


def note_launch(marker: str, *, contained: bool = False) -> None:
    """A command carrying ``marker`` is about to start (call before starting it).

    ``contained``: the command runs as the first process of a PID namespace of its own
    (bubblewrap's ``--unshare-pid``), so the kernel kills every process it started when
    it ends and no process can carry the marker past it; it needs no scan of /proc
    (issue 16: each scan reads every process's environment).
    """
    if contained:
        _LAUNCHED.setdefault(marker, 0)
        _CLEAN_AT.setdefault(marker, 0)
        return
    _LAUNCHED[marker] = _LAUNCHED.get(marker, 0) + 1


def kill_marked(marker: str, *, rounds: int = 5) -> int:
    """SIGKILL every process carrying the marker (daemons that double-forked included)."""
    launches = _LAUNCHED.get(marker)
    killed = 0
    for _ in range(rounds):
        pids = marked_pids(marker)
        if not pids:
            if launches is not None:
                _CLEAN_AT[marker] = launches
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
    return killed


def sweep(marker: str) -> int:
    """``kill_marked``, skipped when a sweep found none of the marker's processes after its last launch.

    A process carries the marker only by inheriting it from a command the harness
    started with it; with none alive at the last sweep and none started since, none
    can exist (issue 16: each scan of /proc reads every process's environment).
    """
    launches = _LAUNCHED.get(marker)
    if launches is not None and _CLEAN_AT.get(marker) == launches:
        return 0
    return kill_marked(marker)


def forget(marker: str) -> None:
    """Drop the marker's launch record (the cell is over)."""
    _LAUNCHED.pop(marker, None)
    _CLEAN_AT.pop(marker, None)


def is_harness_python(path: str) -> bool:
    """Whether ``path`` is the Python running cab (the sandboxes mount its closure for it)."""
    if path == sys.executable:
        return True
    try:
        return os.path.isabs(path) and Path(path).resolve() == Path(sys.executable).resolve()
    except OSError:
        return False


#: Set when the harness is told to stop now (SIGTERM): cells discard themselves (see :func:`stop_all`).
STOPPING = threading.Event()


def stop_all() -> int:
    """Stop now: kill every process of every cell still running; cells then end without a record.

    For a SIGTERM (a scheduler's kill): a cell whose command is killed here sees
    :data:`STOPPING` and is discarded as an interrupted one (its previous record stays),
    never scored as the agent's failure.
    """
    STOPPING.set()
    return sum(kill_marked(marker) for marker in list(_LAUNCHED))


def check_stopping() -> None:
    """Raise KeyboardInterrupt when the harness is stopping (a cell stops where it is, keeping no record)."""
    if STOPPING.is_set():
        raise KeyboardInterrupt
