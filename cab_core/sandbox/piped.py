"""Running one command without pexpect: pipes or a bare pseudo-terminal, timeout, output cap (issue 16).

A command nobody types into (the agent's headless launch, the verification run,
validation's reference run) does not pay for pexpect: the child is started with
``subprocess`` (``vfork``/``exec``, where pexpect forks the whole harness process),
stdin is ``/dev/null``, and it runs in a session of its own so its whole process
group can be killed.  Its stdout and stderr share one pipe or, with ``terminal=True``,
one pseudo-terminal (40x120, as :mod:`cab_core.sandbox.pty` gives): a small shell
step makes that terminal the session's controlling terminal (``/dev/tty`` works, as
under pexpect) and then execs the command.  With ``cast_path`` everything it prints is
written to an asciicast v2 file as it arrives.  The guarantees are those of
:func:`cab_core.sandbox.pty.run_in_pty`: the timeout, ``watch`` (resource limits)
checked between reads and once at the end, the marker sweep, output past the cap read
and dropped with only the last :data:`~cab_core.sandbox.pty.TAIL_BYTES` kept.
``started(child)``, if given, is called right after the child starts (the local
sandbox opens the model relay in the command's network namespace there).
"""

from __future__ import annotations

import codecs
import errno
import fcntl
import os
import select
import selectors
import struct
import subprocess
import termios
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from ..models import ProcessResult
from . import procs, quiet
from .pty import COLS, DEFAULT_OUTPUT_CAP, ROWS, TAIL_BYTES, CastWriter, output_text

#: How often ``watch`` is consulted while the command prints nothing (seconds).
WATCH_EVERY = 0.5
#: Once the command's own process has ended, how long its output may stay silent before it is
#: taken as complete (a process it left behind, or a sandbox torn down half-way, may hold the
#: output open: nothing of it may keep the harness waiting).
EXITED_GRACE_S = 0.2
#: Opens the terminal (``$0``) as the new session's controlling terminal, then runs the command
#: (``{fd}``: a descriptor number the command is not handed).
CTTY_SCRIPT = '{{ command exec {fd}<>"$0"; }} 2>/dev/null; exec {fd}>&-; exec "$@"'


def run_piped(
    argv: Sequence[str],
    *,
    env: dict,
    cwd: Path,
    timeout: float,
    output_cap: int = DEFAULT_OUTPUT_CAP,
    marker: Optional[str] = None,
    watch: Optional[Callable[..., Optional[str]]] = None,
    terminal: bool = False,
    cast_path: Optional[Path] = None,
    started: Optional[Callable[[subprocess.Popen], None]] = None,
    pass_fds: Sequence[int] = (),
    spawned: Optional[tuple[subprocess.Popen, int]] = None,
) -> ProcessResult:
    """Run ``argv`` with stdin from /dev/null and output through a pipe (or a terminal), like ``run_in_pty``.

    ``spawned``: the child already started (a parked launcher, :mod:`.parked`) and the
    descriptor its output is read from; ``started`` hands it its command.
    """
    start = time.monotonic()
    if spawned is not None:
        child, fd = spawned
    else:
        try:
            child, fd = _spawn(list(argv), env=env, cwd=cwd, terminal=terminal, pass_fds=pass_fds)
        except OSError as exc:  # e.g. the executable does not exist
            return ProcessResult(exit_code=127, output=f"cannot start {argv[0]}: {exc}", error=str(exc))
    cast = CastWriter(cast_path, env={"TERM": env.get("TERM", "xterm"), "SHELL": "/bin/sh"}) if cast_path else None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    tail, seen, truncated, timed_out, breach = bytearray(), 0, False, False, None
    os.set_blocking(fd, False)
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    exit_fd, exited, counted = _watch_exit(sel, child), None, False
    try:
        if started is not None:
            started(child)
        quiet.begin()  # work that can wait is done while it runs (see .quiet)
        counted = True
        while True:
            remaining = start + timeout - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if watch is not None:
                breach = watch()
                if breach:
                    break
            events = sel.select(min(remaining, WATCH_EVERY, EXITED_GRACE_S if exited else WATCH_EVERY))
            if exit_fd is not None and any(key.fd == exit_fd for key, _ in events):
                sel.unregister(exit_fd)
                exited = time.monotonic()
            if not any(key.fd == fd for key, _ in events):
                if exited is not None and time.monotonic() - exited >= EXITED_GRACE_S:
                    break  # it ended: what it printed has been read; whatever holds its output on is not it
                continue
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError as exc:  # a terminal whose last writer closed reads EIO: the end
                if exc.errno != errno.EIO:
                    raise
                chunk = b""
            if not chunk:
                break
            seen += len(chunk)
            if seen > output_cap:
                truncated = True
            elif cast is not None:
                cast.output(decoder.decode(chunk))
            tail += chunk
            if len(tail) > 2 * TAIL_BYTES:
                del tail[: len(tail) - TAIL_BYTES]
    finally:
        if counted:
            quiet.end()
        sel.close()
        if exit_fd is not None:
            os.close(exit_fd)
        killed = _finish(child, fd, kill=bool(timed_out or breach), marker=marker)
        if cast is not None:
            cast.output(decoder.decode(b"", final=True))
            cast.close()
    if watch is not None and not breach and not timed_out:
        breach = watch(force=True)
    duration_ms = (time.monotonic() - start) * 1000
    code = None if timed_out else child.returncode
    exit_code = code if code is None or code >= 0 else 128 - code
    error = breach or (cast.error if cast is not None else None)
    return ProcessResult(exit_code=exit_code, timed_out=timed_out, output=output_text(tail, seen, truncated),
                         output_truncated=truncated, duration_ms=duration_ms, active_ms=duration_ms,
                         killed_processes=killed, error=error)


def _watch_exit(sel, child: subprocess.Popen) -> Optional[int]:
    """A pidfd of ``child`` registered with ``sel`` (readable once it has ended), or None where there are none."""
    try:
        pidfd = os.pidfd_open(child.pid)
    except (AttributeError, OSError):
        return None
    sel.register(pidfd, selectors.EVENT_READ)
    return pidfd


def _spawn(argv: list[str], *, env: dict, cwd: Path, terminal: bool, pass_fds: Sequence[int]):
    """Start the child; return it and the descriptor its output is read from."""
    if not terminal:
        child = subprocess.Popen(argv, env=env, cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                 pass_fds=tuple(pass_fds))
        return child, child.stdout.fileno()
    master, slave = open_terminal()
    try:
        fd = next(n for n in range(3, 10) if n not in pass_fds)
        argv = ["/bin/sh", "-c", CTTY_SCRIPT.format(fd=fd), os.ttyname(slave), *argv]
        child = subprocess.Popen(argv, env=env, cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                                 start_new_session=True, close_fds=True, pass_fds=tuple(pass_fds))
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return child, master


def _await_exit(child: subprocess.Popen, timeout: float) -> None:
    """Wait up to ``timeout`` for ``child`` to exit: woken by its pidfd the moment it does (no polling)."""
    try:
        pidfd = os.pidfd_open(child.pid)
    except (AttributeError, OSError):  # no pidfds here (old kernel), or it is already reaped
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        return
    try:
        select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)


def open_terminal() -> tuple[int, int]:
    """A pseudo-terminal (master, slave) of the usual size; the master is not inherited."""
    master, slave = os.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    os.set_inheritable(master, False)
    return master, slave


def _finish(child: subprocess.Popen, fd: int, *, kill: bool, marker: Optional[str]) -> int:
    """Reap the child (a clean exit briefly awaited after EOF), kill what is left; return how many kills."""
    killed = 0
    if not kill:
        _await_exit(child, 0.2)
    if kill or child.poll() is None:
        killed = procs.kill_group(child.pid)
    child.wait()
    if marker:
        killed += procs.kill_marked(marker)
    if child.stdout is not None:
        child.stdout.close()
    else:
        os.close(fd)
    return killed
