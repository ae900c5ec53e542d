"""Removing finished cells' scratch folders off the critical path (issue 16).

A cell's scratch folder (work tree, its ``.git``, the verify copy, the harness's bare
repository) is removed after its record is written.  On a busy disk that removal took
as long as the rest of the cell's bookkeeping, and nothing waits for it: :func:`discard`
renames the folder out of the way (one ``rename``: the name ``cab-cell-*`` is gone at
once) and a background thread deletes it while the next cell runs.  :func:`drain`
waits until everything handed over is gone; the runner calls it when it closes and
the interpreter at exit, so no folder outlives the process that made it.  A folder
that resists removal (the agent left it unwritable) is handled by the ``remove`` the
caller gives (the workspace's own, which makes such folders writable first).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import queue
import threading
from pathlib import Path
from typing import Callable, Iterator

_queue: "queue.Queue[tuple[Path, Callable[[Path], None]]]" = queue.Queue()
_lock = threading.Lock()
_thread: "threading.Thread | None" = None
_local = threading.local()  # .deferred: see deferred()
_closed = False  # set at exit: what is handed over later is removed at once


def discard(root: Path, remove: Callable[[Path], None]) -> None:
    """Rename ``root`` to a hidden sibling and have ``remove`` delete it in the background."""
    root = Path(root)
    target = root.with_name(f".cab-trash-{root.name}")
    try:
        os.rename(root, target)
    except OSError:  # another file system or already gone: remove it here and now
        remove(root)
        return
    later(target, remove)


def later(path: Path, remove: Callable[[Path], None]) -> None:
    """Have ``remove(path)`` run in the background, as it is (a private name, or one that cannot be
    renamed: a cgroup's folder).  It starts while a command runs (:mod:`..sandbox.quiet`), not
    beside the next cell's start."""
    from ..sandbox import quiet

    if _closed:  # the interpreter is exiting and has drained the queue: here and now
        remove(Path(path))
        return
    quiet.later(functools.partial(_enqueue, Path(path), remove), tag="trash")


def _enqueue(path: Path, remove: Callable[[Path], None]) -> None:
    global _thread
    if _closed:
        remove(path)
        return
    with _lock:
        _queue.put((Path(path), remove))
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_work, name="cab-trash", daemon=True)
            _thread.start()


def drain() -> None:
    """Wait until every folder handed to :func:`discard` is removed (inside :func:`deferred`: start
    removing them, the wait is the caller's)."""
    from ..sandbox import quiet

    quiet.flush("trash")
    if not getattr(_local, "deferred", False):
        _queue.join()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """In this thread, :func:`drain` only starts the removals; the caller drains later (a sweep:
    after its own wind-down, which the removals then run beside)."""
    _local.deferred = True
    try:
        yield
    finally:
        _local.deferred = False


def _work() -> None:
    while True:
        path, remove = _queue.get()
        try:
            remove(path)
        except Exception:  # pragma: no cover - remove() already swallows what it can
            pass
        finally:
            _queue.task_done()


def _at_exit() -> None:
    global _closed
    _closed = True
    drain()


atexit.register(_at_exit)
