"""The next cell's containers, prepared while this cell runs; removal in the background (issue 16).

A docker cell needs two fresh containers (the agent's, then the verify step's), and
the daemon takes a few hundred milliseconds to create and start each.  The verify
step's is started while the agent runs (:meth:`DockerSession.prewarm`), but the agent's
own used to be on every cell's critical path.  So once a cell's agent command has ended
(while the cell verifies: harness work never competes with the scored agent run), a
*slot* is prepared for the next cell of the same shape:

- a new cell root (``mkdtemp(prefix="cab-cell-")``, where the cell workspace would
  have made its own) with the ``work``, ``home``, ``verify`` and ``verify-home``
  folders created empty;
- the agent's and the verify step's standbys (:mod:`.standby`), each with exactly the
  configuration this cell's commands had, its folders' paths moved to the new root.

The next cell takes the root (:func:`reserve_root`, called by the runner before it
makes the cell's workspace, which then lives there), and its session the standbys
(:func:`claim`).  A standby serves a command only if its configuration, mounts
included, is exactly the one a fresh container would get; otherwise it is removed and
a fresh one is made.  A slot holds nothing of any cell: its containers waited on a
FIFO and ran nothing, its folders are empty until the next cell fills them.

Containers are removed (``rm -f``, ~0.1 s each) by background threads; :func:`settle`
waits for them, and so does the interpreter's exit, which also removes any slot never
taken.  ``CAB_DOCKER_POOL=0`` turns the slots off.
"""

from __future__ import annotations

import atexit
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Optional

from . import slots, standby

LABEL_POOL = "cab.pool"
_lock = threading.Lock()
_ready: list["Slot"] = []  # prepared (or being prepared), no cell yet
_reserved: dict[str, "Slot"] = {}  # root -> slot whose root a cell took
_reapers: list[threading.Thread] = []
_client = None
_pid = os.getpid()


class Slot:
    """A cell root and the standbys made for it, each by a background thread of its own."""

    def __init__(self, root: Path, keys: list[str]):
        self.root, self.keys = root, keys  # keys: the standbys' fingerprints (:func:`standby.fingerprint`)
        self.standbys: list[Optional[standby.Standby]] = [None] * len(keys)
        self.done = [threading.Event() for _ in keys]
        self.taken_at: Optional[float] = None

    def has(self, key: str) -> bool:
        return key in self.keys

    def get(self, key: str, timeout: float = 120) -> Optional[standby.Standby]:
        """The standby made for ``key`` (waiting while it is made), given away: its taker removes it."""
        for i, k in enumerate(self.keys):
            if k == key and self.done[i].wait(timeout) and self.standbys[i] is not None:
                waiting, self.standbys[i] = self.standbys[i], None
                return waiting
        return None

    def unused(self, timeout: float = 120) -> list[standby.Standby]:
        """Every standby nobody took (waiting while they are made), given away."""
        found = []
        for i in range(len(self.keys)):
            self.done[i].wait(timeout)
            if self.standbys[i] is not None:
                found.append(self.standbys[i])
                self.standbys[i] = None
        return found

    def discard(self) -> None:
        """Remove its unused standbys (in the background)."""
        reap_session(None, None, [], self)


def enabled() -> bool:
    return os.environ.get("CAB_DOCKER_POOL", "1") not in ("0", "", "false", "no")


def client():
    """The pool's own docker client (its containers outlive any one session's)."""
    global _client
    from .. import images
    from ..errors import InfraError

    with _lock:
        _forked()
        if _client is None:
            try:  # room for every command's attached stream, waits and calls at once (urllib3's default is 10)
                _client = images.client(max_pool_size=64)
            except images.DockerUnavailable as exc:
                raise InfraError(str(exc)) from None
        return _client


def _forked() -> None:
    """In a forked child, forget the parent's client and slots (its containers are the parent's)."""
    global _client, _pid
    if _pid != os.getpid():
        _client, _pid = None, os.getpid()
        _ready.clear()
        _reserved.clear()
        _reapers.clear()


def reserve_root() -> Optional[Path]:
    """The root of a prepared slot for the cell about to start (None: none, make your own)."""
    if not enabled():
        return None
    with _lock:
        _forked()
        return slots.reserve(_ready, _reserved)


def claim(workdir: Optional[Path]) -> Optional[Slot]:
    """The slot prepared for the cell whose work folder is ``workdir``, if any (only once)."""
    with _lock:
        _forked()
        return slots.claim(_reserved, workdir)


def prepare(templates: list[tuple[dict, bool]], old_root: Path) -> None:
    """Start preparing a slot for the next cell shaped like this one.

    ``templates``: ``(create kwargs, proxied)`` of this cell's standbys,
    their folders under ``old_root``; the slot's are the same under a new root.
    """
    if not enabled():
        return
    old = str(old_root)
    from ..workspace import scratch

    root = scratch.make("cab-cell-", dir=old_root.parent)
    for name in ("work", "home", "verify", "verify-home"):
        (root / name).mkdir()
    moved = [(_moved(kwargs, old, str(root)), proxied) for kwargs, proxied in templates]
    slot = Slot(root, [standby.fingerprint(kwargs) for kwargs, _ in moved])

    def make(i: int, kwargs: dict, proxied: bool) -> None:
        try:
            slot.standbys[i] = standby.make(client(), kwargs, proxied=proxied, near=root)
        except Exception:  # no standby: the cell makes its containers itself
            pass
        finally:
            slot.done[i].set()

    with _lock:
        _ready.append(slot)
    # Side by side: the daemon makes two containers at once in little more than the time of one,
    # and the verify step's is then ready as soon as the agent's (one after the other, a short
    # test left the next cell's verify step waiting for its container).
    for i, (kwargs, proxied) in enumerate(moved):
        threading.Thread(target=make, args=(i, kwargs, proxied), name="cab-docker-slot", daemon=True).start()


def _moved(kwargs: dict, old: str, new: str) -> dict:
    from docker.types import Mount

    def move(path: str) -> str:
        return slots.moved(path, old, new)

    mounts = [Mount(move(m["Target"]), move(m["Source"]), type=m["Type"], read_only=bool(m.get("ReadOnly")))
              for m in kwargs["mounts"]]
    labels = {**kwargs.get("labels", {}), LABEL_POOL: str(os.getpid())}
    labels = {k: ("" if k in ("cab.cell", "cab.session") else v) for k, v in labels.items()}
    return {**kwargs, "mounts": mounts, "working_dir": move(kwargs["working_dir"]), "labels": labels}


def reap_session(dc, session_id: Optional[str], standbys: list, slot: Optional[Slot] = None, *,
                 close_client: bool = False) -> None:
    """In the background: remove ``standbys``' containers and folders, ``slot``'s unused ones, any
    container still labelled with ``session_id`` (with the client ``dc``, closed after if ``close_client``)."""
    from .containers import LABEL_SESSION, _remove

    def remove(waiting) -> None:
        _remove(waiting.container)
        waiting.discard()

    def work() -> None:
        # Side by side: the daemon removes two containers at once in little more than the time of one.
        removals = []
        for waiting in [*standbys, *(slot.unused() if slot is not None else [])]:  # a slot's: once made
            removals.append(threading.Thread(target=remove, args=(waiting,), name="cab-docker-rm", daemon=True))
            removals[-1].start()
        for thread in removals:
            thread.join()
        if dc is None:
            return
        try:
            for container in dc.containers.list(all=True, filters={"label": f"{LABEL_SESSION}={session_id}"}):
                _remove(container)
        except Exception:
            pass
        if close_client:
            try:
                dc.close()
            except Exception:
                pass

    thread = threading.Thread(target=work, name="cab-docker-rm", daemon=True)
    thread.start()
    with _lock:
        _reapers[:] = [t for t in _reapers if t.is_alive()] + [thread]


def prepared_roots() -> list[Path]:
    """Roots of slots no cell has taken yet (empty folders, removed at exit)."""
    with _lock:
        return [slot.root for slot in _ready]


def waiting_ids() -> set[str]:
    """IDs of the containers prepared for cells not yet opened (they wait; nothing ran in them)."""
    with _lock:
        prepared = [*_ready, *_reserved.values()]
    return {w.container.id for slot in prepared for w in slot.standbys if w is not None}


def settle(timeout: float = 60) -> None:
    """Wait for every background removal, and every slot's preparation, started so far."""
    with _lock:
        pending = list(_reapers)
        making = [event for slot in [*_ready, *_reserved.values()] for event in slot.done]
    deadline = time.monotonic() + timeout
    for event in making:  # a container being made is not yet among waiting_ids()
        event.wait(max(deadline - time.monotonic(), 0))
    for thread in pending:
        thread.join(max(deadline - time.monotonic(), 0))


@atexit.register
def discard_all() -> None:
    """Remove every prepared slot's containers (and an untaken slot's root); wait for removals."""
    ready = slots.discard_every(_lock, _ready, _reserved, _pid)
    settle(120)
    for slot in ready:  # a reserved slot's root is its cell's workspace (removed with it)
        shutil.rmtree(slot.root, ignore_errors=True)
