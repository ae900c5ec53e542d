"""The next cell's local sandboxes, built while this cell verifies (issue 16).

Building a bubblewrap sandbox is most of a short command's start-up in the local
sandbox (namespaces, the allow-list's mounts, the covers, the seccomp filter: ~15 ms on
an idle machine, twice that on a busy one).  The verify step's sandbox is already built
while the agent runs (:meth:`LocalSession.prewarm`); the agent's own used to be built on
every cell's critical path.  So, in a sweep, once a cell's agent command has ended
(harness work never competes with the scored agent run) a *slot* is prepared for the
next cell of the same shape:

- a new cell root (``mkdtemp(prefix="cab-cell-")``, where the cell workspace would have
  made its own) with its ``work``, ``home``, ``verify`` and ``verify-home`` folders
  created empty;
- the sandboxes of this cell's agent command and verify step, each built ahead
  (:mod:`.prebuilt`) with exactly the configuration this cell's had, its folders moved
  to the new root, its command a shell waiting on a private FIFO.

The next cell takes the root (:func:`reserve_root`, called by the runner before it makes
the cell's workspace, which then lives there) and its session the sandboxes
(:func:`claim`).  A sandbox serves a command only if the ``bwrap`` line built for that
command *now* is, but for the waiting shell, the one it was built with (mounts, covers,
limits, folders, the view checked again); otherwise it is discarded and the command
starts afresh.  A slot holds nothing of any cell: its shells ran nothing, its folders
are empty until the next cell fills them, and the cell that prepared it has no way to
it (its agent has ended; its verify step runs in a sandbox of its own that sees neither
the new root nor the FIFOs).

Slots are prepared only while :func:`ahead` is active (a sweep: a single ``cab run``
has no next cell) and ``CAB_LOCAL_POOL`` is not ``0``.  What is left at exit is killed
and removed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import threading
from pathlib import Path
from typing import Callable, Iterator, Optional

from . import quiet, slots

_lock = threading.Lock()
_settled = threading.Condition(_lock)  # notified as a slot's preparation ends
_pending = 0  # slots being prepared now
#: How long a cell about to start waits for a slot still being prepared (in a sweep it starts while
#: the cell before it runs its tests: see cab_core.sweep.turns), rather than building its own.
RESERVE_WAIT_S = 0.5
_ready: list["Slot"] = []  # prepared, no cell yet
_reserved: dict[str, "Slot"] = {}  # root -> slot whose root a cell took
_ahead = 0  # how many sweeps want slots now
_budget: Optional[int] = None  # slots still worth making (None: no bound)
_pid = os.getpid()
#: Folders a cell root has (see :class:`cab_core.workspace.cell.CellWorkspace`).
FOLDERS = ("work", "home", "verify", "verify-home")


class Slot:
    """A cell root and the sandboxes built ahead for it, by their command's folder."""

    def __init__(self, root: Path):
        self.root = root
        self.sandboxes: dict = {}
        self.taken_at: Optional[float] = None

    def discard(self) -> None:
        while self.sandboxes:
            self.sandboxes.popitem()[1].discard()


def enabled() -> bool:
    return _ahead > 0 and os.environ.get("CAB_LOCAL_POOL", "1") != "0"


@contextlib.contextmanager
def ahead(cells: Optional[int] = None) -> Iterator[None]:
    """While active (a sweep runs its cells), cells prepare a slot for the next one; a sweep of
    ``cells`` cells makes at most ``cells - 1`` (no cell after the last one uses a slot)."""
    global _ahead, _budget
    with _lock:
        _ahead += 1
        _budget = None if cells is None else max(0, cells - 1)
    try:
        yield
    finally:
        with _lock:
            _ahead -= 1
            _budget = None
        discard_all()


def _forked() -> None:
    """In a forked child, forget the parent's slots (their sandboxes are the parent's)."""
    global _pid, _pending
    if _pid != os.getpid():
        _pid = os.getpid()
        _pending = 0  # the parent's preparing threads are not in this process
        _ready.clear()
        _reserved.clear()


def reserve_root() -> Optional[Path]:
    """The root of a prepared slot for the cell about to start (None: none, make your own); a slot
    still being prepared is waited for, at most :data:`RESERVE_WAIT_S`."""
    with _settled:
        _forked()
        _settled.wait_for(lambda: _ready or not _pending, RESERVE_WAIT_S)
        return slots.reserve(_ready, _reserved)


def claim(workdir: Optional[Path]) -> dict:
    """The sandboxes built for the cell whose work folder is ``workdir``, by folder (only once)."""
    with _lock:
        _forked()
        slot = slots.claim(_reserved, workdir)
    return dict(slot.sandboxes) if slot is not None else {}


def prepare(builders: list[Callable[[str, str], tuple[str, object]]], old_root: Path) -> None:
    """Prepare, in the background, a slot for the next cell shaped like this one: each builder, given
    this cell's root and the new one, returns ``(folder, Prebuilt)`` for one of its commands moved there."""
    global _budget, _pending
    if not (enabled() and builders):
        return
    with _lock:
        if _budget is not None:
            if _budget <= 0:
                return
            _budget -= 1
        _pending += 1
    try:
        quiet.Job(_prepared, builders, old_root, name="cab-local-slot").start()  # counted while it builds
    except BaseException:
        _done_preparing()
        raise


def _done_preparing() -> None:
    global _pending
    with _settled:
        _pending -= 1
        _settled.notify_all()


def _prepared(builders: list, old_root: Path) -> None:
    try:
        _prepare(builders, old_root)
    finally:
        _done_preparing()


def _prepare(builders: list, old_root: Path) -> None:
    from ..workspace import scratch

    root = scratch.make("cab-cell-", dir=old_root.parent)
    slot = Slot(root)
    try:
        for name in FOLDERS:
            (root / name).mkdir()
        for build in builders:
            folder, sandbox = build(str(old_root), str(root))
            slot.sandboxes[folder] = sandbox
            sandbox.begin()
    except Exception:  # no slot: the next cell builds its sandboxes itself
        slot.discard()
        shutil.rmtree(root, ignore_errors=True)
        return
    with _lock:
        if enabled() and _pid == os.getpid():
            _ready.append(slot)
            return
    slot.discard()  # the sweep ended meanwhile
    shutil.rmtree(root, ignore_errors=True)


moved = slots.moved  # (kept importable from here)


def prepared_roots() -> list[Path]:
    """Roots of slots no cell has taken yet (empty folders, removed at exit)."""
    with _lock:
        return [slot.root for slot in _ready]


@atexit.register
def discard_all() -> None:
    """Kill every prepared slot's sandboxes; remove an untaken slot's root."""
    ready = slots.discard_every(_lock, _ready, _reserved, _pid)
    for slot in ready:  # a reserved slot's root is its cell's workspace (removed with it)
        shutil.rmtree(slot.root, ignore_errors=True)
