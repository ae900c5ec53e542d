"""Running one command without a terminal: pipes, timeout, output cap (issue 16).

A command that needs no terminal (the verification run, validation's reference run)
does not pay for a pseudo-terminal, pexpect's spawn and an asciicast: its stdout and
stderr share one pipe, stdin is ``/dev/null``, and it runs in a session of its own so
its whole process group can be killed.  The guarantees are those of
:func:`cab_core.sandbox.pty.run_in_pty`: the timeout, ``watch`` (resource limits)
checked between reads and once at the end, the marker sweep, output past the cap read
and dropped with only the last :data:`~cab_core.sandbox.pty.TAIL_BYTES` kept.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from ..models import ProcessResult
from . import procs
from .pty import DEFAULT_OUTPUT_CAP, TAIL_BYTES, output_text

#: How often ``watch`` is consulted while the command prints nothing (seconds).
WATCH_EVERY = 0.5


def run_piped(
    argv: Sequence[str],
    *,
    env: dict,
    cwd: Path,
    timeout: float,
    output_cap: int = DEFAULT_OUTPUT_CAP,
    marker: Optional[str] = None,
    watch: Optional[Callable[..., Optional[str]]] = None,
) -> ProcessResult:
    """Run ``argv`` with stdin from /dev/null and output through a pipe, like ``run_in_pty``."""
    start = time.monotonic()
    try:
        child = subprocess.Popen(list(argv), env=env, cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    except OSError as exc:  # e.g. the executable does not exist
        return ProcessResult(exit_code=127, output=f"cannot start {argv[0]}: {exc}", error=str(exc))
    tail, seen, truncated, timed_out, breach = bytearray(), 0, False, False, None
    fd = child.stdout.fileno()
    os.set_blocking(fd, False)
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    try:
        while True:
            remaining = start + timeout - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if watch is not None:
                breach = watch()
                if breach:
                    break
            if not sel.select(min(remaining, WATCH_EVERY)):
                continue
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            seen += len(chunk)
            truncated = truncated or seen > output_cap
            tail += chunk
            if len(tail) > 2 * TAIL_BYTES:
                del tail[: len(tail) - TAIL_BYTES]
    finally:
        sel.close()
        killed = _finish(child, kill=bool(timed_out or breach), marker=marker)
    if watch is not None and not breach and not timed_out:
        breach = watch(force=True)
    duration_ms = (time.monotonic() - start) * 1000
    code = None if timed_out else child.returncode
    exit_code = code if code is None or code >= 0 else 128 - code
    return ProcessResult(exit_code=exit_code, timed_out=timed_out, output=output_text(tail, seen, truncated),
                         output_truncated=truncated, duration_ms=duration_ms, active_ms=duration_ms,
                         killed_processes=killed, error=breach)


def _finish(child: subprocess.Popen, *, kill: bool, marker: Optional[str]) -> int:
    """Reap the child (a clean exit briefly awaited after EOF), kill what is left; return how many kills."""
    killed = 0
    if not kill:
        try:
            child.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
    if kill or child.poll() is None:
        killed = procs.kill_group(child.pid)
    child.wait()
    if marker:
        killed += procs.kill_marked(marker)
    child.stdout.close()
    return killed
