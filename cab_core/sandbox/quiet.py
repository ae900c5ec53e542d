"""Harness work that can wait, done while a command runs (issue 16).

Some of what a cell leaves behind is work for the harness but nobody waits for it: its
scratch folder removed (tens of milliseconds of file-system work and of the interpreter),
its commands' cgroup folders removed, its parked launchers started again.  Done at once,
that work lands on the next cell's start, whose setup it slows by as much as it takes
(measured: the next cell's overhead 10-15 ms lower with the removal done later).

So it is handed to :func:`later`: it runs once a command has been running for
:data:`DELAY_S` (the harness then only waits for that command; a command shorter than
that ends first, and the work waits for the next one), and at the latest
:data:`MAX_WAIT_S` after it was handed over (a sandbox whose commands are not counted
here, docker's, still gets it done).  :func:`flush` runs what waits under a tag now (the
trash's drain).  What is handed over must be cheap to call (it usually
puts a job on a queue: the work itself is done by its own thread).

The other way round, the harness's own background work for a cell (its patch, its store,
the next cell's starting files, a slot built ahead) is counted while it runs
(a :class:`Job`, or :func:`working` ... :func:`worked`), so a sweep can start its next cell once that work
is done (:func:`idle`) rather than beside it: each is done sooner, and the next cell's
duration is its own work, not the wait for another's.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterator

#: How long a command must have been running before waiting work is let go.
DELAY_S = 0.02
#: The longest anything waits for a command.
MAX_WAIT_S = 1.0

_cond = threading.Condition()
_pending: list[tuple[float, Callable[[], None], str]] = []  # (deadline, what, tag)
_running = 0  # commands running now
_since = 0.0  # when the oldest of them started (monotonic)
_thread: "threading.Thread | None" = None
_working = 0  # harness background jobs running now (see working)


def later(fn: Callable[[], None], *, tag: str = "") -> None:
    """Call ``fn()`` while a command runs (see the module docstring); ``tag`` names it for :func:`flush`."""
    global _thread
    with _cond:
        _pending.append((time.monotonic() + MAX_WAIT_S, fn, tag))
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name="cab-quiet", daemon=True)
            _thread.start()
        _cond.notify()


def begin() -> None:
    """A command has started (each :func:`begin` is followed by one :func:`end`)."""
    global _running, _since
    with _cond:
        _running += 1
        if _running == 1:
            _since = time.monotonic()
        _cond.notify()


def end() -> None:
    """A command has ended."""
    global _running
    with _cond:
        _running -= 1


@contextlib.contextmanager
def running() -> Iterator[None]:
    """Count a command as running for the duration of the block."""
    begin()
    try:
        yield
    finally:
        end()


def flush(tag: str) -> None:
    """Call everything waiting with ``tag``, now."""
    with _cond:
        due = [fn for _, fn, t in _pending if t == tag]
        _pending[:] = [item for item in _pending if item[2] != tag]
    _call(due)


def _loop() -> None:
    while True:
        with _cond:
            while True:
                now = time.monotonic()
                if _running and now >= _since + DELAY_S:
                    due = [fn for _, fn, _ in _pending]
                    _pending.clear()
                else:
                    due = [fn for deadline, fn, _ in _pending if deadline <= now]
                    _pending[:] = [item for item in _pending if item[0] > now]
                if due:
                    break
                wake = [d for d, _, _ in _pending]
                if wake and _running:
                    wake.append(_since + DELAY_S)  # (in the future here: else all were due)
                _cond.wait(max(0.001, min(wake) - now) if wake else None)
        _call(due, BaseException)


def _call(due: list, swallow: type = Exception) -> None:
    # What is handed over only queues work; one that fails anyway neither drops the rest of its
    # batch nor, on the loop's thread (``swallow=BaseException``: a KeyboardInterrupt raised by a
    # wait that gives up), ends the loop.  A caller's own thread (flush) still gets the user's ^C.
    for fn in due:
        try:
            fn()
        except swallow:  # noqa: BLE001
            pass


class Job(threading.Thread):
    """A daemon thread counted as the harness's background work from its start to its end (:func:`idle`)."""

    def __init__(self, target: Callable[..., None], *args, name: str):
        super().__init__(target=target, args=args, name=name, daemon=True)

    def start(self) -> None:
        working()
        try:
            super().start()
        except BaseException:
            worked()
            raise

    def run(self) -> None:
        try:
            super().run()
        finally:
            worked()


def working() -> None:
    """A background job of the harness is starting (call before its thread starts; :func:`worked` at its end)."""
    global _working
    with _cond:
        _working += 1


def worked() -> None:
    """A background job counted by :func:`working` has ended."""
    global _working
    with _cond:
        _working -= 1
        if not _working:
            _cond.notify_all()


def idle(timeout: float) -> bool:
    """Wait until no background job counted by :func:`working` runs, at most ``timeout`` seconds."""
    with _cond:
        return _cond.wait_for(lambda: _working <= 0, timeout)
