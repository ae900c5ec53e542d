"""Cell roots prepared ahead and handed to the next cell: the bookkeeping both pools share (issue 16).

A pool (:mod:`.localpool`, :mod:`.dockerpool`) keeps *ready* slots (a new cell root and
what was built for it) and *reserved* ones (a cell took the root and has not opened its
session yet).  The runner takes a root before it makes the cell's workspace there
(:func:`reserve`); the cell's session then claims what was built for it (:func:`claim`).
The caller holds its pool's lock.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

#: A reservation no session claimed for this long is dropped (its cell never opened one).
STALE_S = 3600


def reserve(ready: list, reserved: dict) -> Optional[Path]:
    """Take the first ready slot for the cell about to start; its root (None: none ready)."""
    now = time.monotonic()
    for key, old in list(reserved.items()):  # taken by a cell that never opened a session
        if old.taken_at is not None and now - old.taken_at > STALE_S:
            reserved.pop(key).discard()
    slot = ready.pop(0) if ready else None
    if slot is None:
        return None
    slot.taken_at = now
    reserved[str(slot.root)] = slot
    return slot.root


def claim(reserved: dict, workdir: Optional[Path]):
    """The slot reserved for the cell whose work folder is ``workdir`` (only once), else None."""
    return reserved.pop(str(Path(workdir).parent), None) if workdir is not None else None


def discard_every(lock, ready: list, reserved: dict, pid: int) -> list:
    """Take every slot out of the pool and discard what was built for it; the ready ones, whose roots no
    cell took (none in a forked child: the slots are the parent's)."""
    with lock:
        if pid != os.getpid():
            return []
        untaken, taken = list(ready), list(reserved.values())
        ready.clear()
        reserved.clear()
    for slot in [*untaken, *taken]:
        slot.discard()
    return untaken


def moved(value: str, old: str, new: str) -> str:
    """``value`` with the folder ``old`` (a cell root) at its start replaced by ``new``."""
    return new + value[len(old):] if value == old or value.startswith(old + "/") else value
