"""The disk limit: measuring the folders a command may write, while it runs and after.

A walk without recursion charges every entry at least :data:`MIN_CHARGE` (so a million
empty files count) and reports the deepest folder level (folders nested deeper than
:data:`MAX_DEPTH` break tools that recurse).  :class:`DiskWatch` polls adaptively so a
big work directory does not slow the cell.  Split out of :mod:`cab_core.sandbox.limits`,
which re-exports these names.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Iterable, Optional

from .procs import LIMIT_EXCEEDED

#: Every file is charged at least this much, so a million empty files count too.
MIN_CHARGE = 512
#: Entries (files, folders, links) the writable folders may hold together (``limit.files``).
DEFAULT_FILES = 300_000
#: Folders nested deeper than this break tools that recurse (Python's copytree among them).
MAX_DEPTH = 128


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover



def disk_usage(paths: Iterable[Path], stop_at: Optional[int] = None) -> int:
    """Bytes the files below ``paths`` take (apparent or allocated size, whichever is larger).

    Symlinks are not followed; every entry is charged at least :data:`MIN_CHARGE`.
    Stops counting once ``stop_at`` is passed.
    """
    return _measure(paths, stop_at)[0]


def _measure(paths: Iterable[Path], stop_at: Optional[int] = None,
             stop_entries: Optional[int] = None) -> tuple[int, int, int]:
    """``(bytes, deepest folder level, entries)`` below ``paths``, walked without recursion.

    Stops once ``stop_at`` bytes or ``stop_entries`` entries are passed (the counts are
    then lower bounds).
    """
    total = deepest = entries = 0
    stack = [(str(p), 0) for p in paths]
    while stack:
        top, depth = stack.pop()
        deepest = max(deepest, depth)
        try:
            listing = os.scandir(top)
        except OSError:
            continue
        with listing:
            for entry in listing:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                entries += 1
                total += max(st.st_size if stat.S_ISREG(st.st_mode) else 0, st.st_blocks * 512, MIN_CHARGE)
                if stat.S_ISDIR(st.st_mode):
                    stack.append((entry.path, depth + 1))
        if (stop_at is not None and total > stop_at) or (stop_entries is not None and entries > stop_entries):
            break
    return total, deepest, entries


class DiskWatch:
    """Polls the size and entry count of a command's writable folders; :meth:`check` says when either is too big.

    The poll interval adapts to how long a walk takes (at most a fifth of the time is
    spent measuring), so a work directory with many files does not slow the cell; a
    walk stops at the first limit passed, so it never costs more than walking that much.
    """

    def __init__(self, paths: Iterable[Path], limit: Optional[int], *, interval: float = 1.0,
                 files: Optional[int] = DEFAULT_FILES):
        self.paths = [Path(p) for p in paths]
        self.limit = limit
        self.files = files
        self.interval = interval
        self._next = time.monotonic() + interval
        self.peak = 0

    def check(self, force: bool = False) -> Optional[str]:
        if (self.limit is None and self.files is None) or (not force and time.monotonic() < self._next):
            return None
        t0 = time.monotonic()
        used, deepest, entries = _measure(self.paths, stop_at=self.limit, stop_entries=self.files)
        spent = time.monotonic() - t0
        self._next = time.monotonic() + max(self.interval, 4 * spent)
        self.peak = max(self.peak, used)
        where = " and ".join(str(p) for p in self.paths)
        if self.limit is not None and used > self.limit:
            return f"{LIMIT_EXCEEDED}: disk: {where} grew past {human(self.limit)}"
        if self.files is not None and entries > self.files:
            return f"{LIMIT_EXCEEDED}: files: {where} hold more than {self.files} files and folders"
        if self.limit is not None and deepest > MAX_DEPTH:
            return f"{LIMIT_EXCEEDED}: disk: folders nested more than {MAX_DEPTH} deep in {where}"
        return None
