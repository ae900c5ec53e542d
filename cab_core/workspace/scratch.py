"""Scratch folders that outlive a killed harness are removed by the next one.

A harness killed with SIGKILL (a CI job's timeout, the OOM killer, ``kill -9``) runs no
exit handler: its cell roots (each a copy of its task, its ``.git``, the verify copy)
and its templates stay in the temporary folder, and a test suite that kills harnesses
on purpose left ~16 roots a run.  So every such folder is made by :func:`make`, which
holds an exclusive ``flock`` on a file inside it (``.cab-owner``, put in place already
locked) for as long as the folder exists, and the first cell of every process sweeps,
in the background (:func:`sweep_later`), the folders whose lock it can take: their
maker has ended.  A lock is the kernel's word on it: a pid reused, or a harness in
another PID namespace sharing the folder, is never taken for a dead one.  A folder
without the file (made by an older cab, or being made right now) is left alone.

The lock's descriptor is closed once its folder is gone (renamed to the trash or
removed): :func:`make` looks, so a sweep of thousands of cells holds a few.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Optional

#: The lock file inside each folder.
OWNER = ".cab-owner"
#: What :func:`sweep` looks at: the folders :func:`make` names, and the trash's renames of them.
KINDS = ("cab-cell-", "cab-templates-")
TRASH = ".cab-trash-"

_lock = threading.Lock()
_held: dict[str, int] = {}  # folder -> the descriptor holding its lock
_swept: set[str] = set()  # parents swept by this process


def make(prefix: str, dir: Optional[Path] = None) -> Path:
    """A new folder (``tempfile.mkdtemp(prefix=prefix, dir=dir)``) locked as this process's."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
    tmp = root / f"{OWNER}.{os.getpid()}"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(tmp, root / OWNER)  # seen by a sweep only once locked
    except OSError:
        os.close(fd)
        raise
    with _lock:
        _release_gone()
        _held[str(root)] = fd
    return root


def _release_gone() -> None:
    for path in [p for p in _held if not os.path.lexists(p)]:
        os.close(_held.pop(path))


def sweep(parent: Optional[Path] = None) -> list[Path]:
    """Remove the folders in ``parent`` (the temporary folder) whose maker has ended; return them."""
    parent = Path(parent or tempfile.gettempdir())
    removed = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        bare = name[len(TRASH):] if name.startswith(TRASH) else name
        if not bare.startswith(KINDS):
            continue
        folder = parent / name
        if folder.is_symlink() or not folder.is_dir():  # only a folder of its own name is ever removed
            continue
        with _lock:
            if str(folder) in _held:  # this process's own
                continue
        fd = _orphaned(folder)
        if fd is not None:
            try:
                rmtree(folder)
            finally:
                os.close(fd)
            removed.append(folder)
    return removed


def _orphaned(folder: Path) -> Optional[int]:
    """The descriptor holding ``folder``'s lock, if it could be taken (its maker has ended): held
    while the folder is removed, so another harness's sweep leaves it alone."""
    try:
        fd = os.open(folder / OWNER, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # no lock file: not one of ours, or not yet locked
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # its maker still runs
        os.close(fd)
        return None
    return fd


def rmtree(root: Path) -> None:
    """Remove ``root`` whole, folders the agent left unwritable included."""
    def retry(func, path, _exc):  # a folder the agent made unwritable
        try:
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700) if not os.path.islink(path) else None
            func(path)
        except OSError:
            pass

    try:
        if sys.version_info >= (3, 12):
            shutil.rmtree(root, onexc=retry)
        else:
            shutil.rmtree(root, onerror=retry)
    except RecursionError:  # folders nested deeper than Python recurses: rm walks them without recursing
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(root)], capture_output=True)
    if os.path.lexists(root):
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(root)], capture_output=True)


def sweep_later(parent: Optional[Path] = None) -> None:
    """Once per process and folder: :func:`sweep` in the background, by the trash's thread (beside a
    command; the process waits for it at exit as for the rest of its trash: :mod:`.trash`)."""
    key = str(Path(parent or tempfile.gettempdir()))
    with _lock:
        if key in _swept:
            return
        _swept.add(key)
    from . import trash

    trash.later(Path(key), sweep)
