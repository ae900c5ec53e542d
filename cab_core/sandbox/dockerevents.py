"""Container ends as the docker daemon announces them, one event stream per client (issue 16).

When a container's command ends, the daemon closes its attached output, then
announces ``die`` (with the exit code) on its event stream, then unmounts the
container's file systems and writes its state to disk; only after that does
``POST /containers/ID/wait`` (or an inspect: both take the container's lock) answer.
That tail costs 20-70 ms a command, twice a cell.  So the docker sandbox learns a
command's exit code from the ``die`` event: the daemon's own word, sent once the
container's first process has exited, which is when the kernel has killed every
other process of its PID namespace: nothing of the command runs past it.

One thread per docker client reads the daemon's event stream (``die`` and ``oom``
of cab's containers, those labelled ``cab.image``) into a bounded record.  A waiter
that sees no ``die`` within :data:`GRACE_S` (a stream that broke, a daemon too busy,
a command that closed its output and runs on) asks the daemon the old way: the
event is a shortcut, never the only way to an exit code.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from typing import Optional

#: Seconds a waiter waits for a container's ``die`` after its output ended before it asks ``wait``.
GRACE_S = 2.0
#: Ends remembered at most (oldest forgotten first): each is a few bytes, and each is asked for once.
KEEP = 4096
LABEL = "cab.image"


class Ends:
    """What the daemon announced of cab's containers: exit codes (``die``) and ``oom`` kills."""

    def __init__(self, client):
        self._client = client
        self._cond = threading.Condition()
        self._died: OrderedDict[str, int] = OrderedDict()
        self._oom: OrderedDict[str, bool] = OrderedDict()
        self._stream = None
        self.alive = False
        self.pid = os.getpid()  # a forked child has no reader thread: it starts its own
        self._ready = threading.Event()
        threading.Thread(target=self._read, name="cab-docker-events", daemon=True).start()
        self._ready.wait(10)  # the stream is open (or failed) before this session's commands can end

    def _read(self) -> None:
        try:
            # ``since`` replays what the daemon announced shortly before: it subscribes a stream only
            # after sending its headers, and an end in between would otherwise be missed.
            self._stream = self._client.events(decode=True, since=int(time.time()) - 5, filters={
                "type": "container", "event": ["die", "oom"], "label": [LABEL]})
            self.alive = True
        except Exception:
            self._ready.set()
            return
        self._ready.set()
        try:
            for event in self._stream:
                self._note(event)
        except Exception:  # the stream broke (daemon restarted, client closed): waiters ask ``wait``
            pass
        finally:
            with self._cond:
                self.alive = False
                self._cond.notify_all()

    def _note(self, event: dict) -> None:
        actor = event.get("Actor") or {}
        cid = actor.get("ID") or event.get("id")
        action = event.get("Action") or event.get("status")
        if not cid:
            return
        with self._cond:
            if action == "oom":
                _put(self._oom, cid, True)
            elif action == "die":
                try:
                    _put(self._died, cid, int((actor.get("Attributes") or {}).get("exitCode")))
                except (TypeError, ValueError):
                    return  # no exit code: the waiter asks ``wait``
            self._cond.notify_all()

    def exit_code(self, container_id: str, timeout: float = GRACE_S) -> Optional[int]:
        """The exit code announced for ``container_id`` (waiting up to ``timeout``), or None: ask ``wait``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while container_id not in self._died:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.alive:
                    return None
                self._cond.wait(remaining)
            return self._died.pop(container_id)

    def oom_killed(self, container_id: str) -> bool:
        """Whether the daemon announced an out-of-memory kill in ``container_id`` (forgets it)."""
        with self._cond:
            return bool(self._oom.pop(container_id, False))

    def close(self) -> None:
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:
                pass


def _put(record: OrderedDict, key: str, value) -> None:
    record[key] = value
    while len(record) > KEEP:
        record.popitem(last=False)


_lock = threading.Lock()


def ends(client) -> Optional[Ends]:
    """The client's event reader (started on first use; restarted if its stream broke); None if it cannot read events."""
    with _lock:
        found = getattr(client, "_cab_ends", None)
        if found is None or not found.alive or found.pid != os.getpid():
            if not hasattr(client, "events"):
                return None
            found = Ends(client)
            try:
                client._cab_ends = found
            except AttributeError:  # pragma: no cover - a client that takes no attributes
                pass
        return found if found.alive else None
