"""Following a docker container's command to its end: its output, the limits, the timeout (docker sandbox).

Split out of :mod:`cab_core.sandbox.docker`: the command was handed over to a started
container (:mod:`.standby`) whose output is already pumped into a queue; this reads
it into the cast and the output tail, checks the limits (:class:`.containers._Watch`)
as it goes, kills the container at the timeout or a breach, and makes the result.
"""

from __future__ import annotations

import codecs
import queue
import time
from pathlib import Path
from typing import Callable, Optional

from ..models import ProcessResult
from .containers import _kill, _state
from .limits import human
from .procs import LIMIT_EXCEEDED
from .pty import TAIL_BYTES, CastWriter, output_text


def follow(container, prestarted, *, timeout: float, cast_path: Optional[Path], output_cap: int, term: str,
           watch, memory: int, running: Callable[[], None] = lambda: None, ends=None) -> ProcessResult:
    """Follow ``container`` (``prestarted``: its output queue and reader) to its end; ``running`` is called once it runs.

    ``ends``: the client's :class:`.dockerevents.Ends`, which learns the exit code sooner than ``wait``.
    """
    chunks, reader = prestarted  # attached before it started (log replayed): no output is lost
    cast = CastWriter(cast_path, env={"TERM": term, "SHELL": "/bin/sh"}) if cast_path else None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    tail, seen, truncated, timed_out, killed, error, breach = bytearray(), 0, False, False, 0, None, None
    start = time.monotonic()
    deadline = start + timeout
    try:
        running()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            breach = watch()
            if breach:
                break
            try:
                chunk = chunks.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if chunk is None:
                break
            seen += len(chunk)
            if seen <= output_cap:
                if cast:
                    cast.output(decoder.decode(chunk))
            else:
                truncated = True
            tail += chunk
            if len(tail) > 2 * TAIL_BYTES:  # trimmed in batches, not on every read
                del tail[: len(tail) - TAIL_BYTES]
        exit_code = announced = None
        if not timed_out and not breach:
            # The terminal closed; the command may still be running (it closed its output).
            announced = exit_code = ends.exit_code(container.id) if ends is not None else None
            if exit_code is None:
                try:
                    exit_code = container.wait(timeout=max(deadline - time.monotonic(), 1))["StatusCode"]
                except Exception:
                    timed_out = True
        if timed_out or breach:
            killed = _kill(container)
    finally:
        if cast:
            cast.output(decoder.decode(b"", final=True))
            cast.close()
    duration_ms = (time.monotonic() - start) * 1000
    reader.join(timeout=5)
    state = {}
    if announced is None or announced == 128 + 9 or ends.oom_killed(container.id):
        # Asked only when the answer may differ from what was announced: an inspect waits for
        # the daemon's whole clean-up after the end (a SIGKILL may be the kernel's out-of-memory one).
        state = _state(container)
    active_ms = None  # the container started before its command: the command's run began at the hand-over
    if not timed_out:
        breach = breach or watch(force=True)
        if breach:
            exit_code = state.get("ExitCode", exit_code)
        if state.get("OOMKilled") and not breach:
            breach = f"{LIMIT_EXCEEDED}: memory: the container used more than {human(memory)}"
    error = breach or (cast.error if cast is not None and getattr(cast, "error", None) else None)
    text = output_text(tail, seen, truncated)
    return ProcessResult(
        exit_code=exit_code,
        timed_out=timed_out,
        output=text,
        output_truncated=truncated,
        duration_ms=duration_ms,
        active_ms=active_ms if active_ms is not None else duration_ms,
        killed_processes=killed,
        error=error,
    )
