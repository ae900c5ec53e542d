"""Running one command under a pseudo-terminal: timeout, output cap, asciicast recording.

The child gets its own session (so its whole process group can be killed) and, unless
the caller asks for an interactive terminal, stdin from ``/dev/null``: pi and
opencode wait forever on an open stdin.  Everything the terminal shows is written to
an asciicast v2 file as it arrives; only a bounded tail is kept in memory.
"""

from __future__ import annotations

import codecs
import collections
import json
import re
import signal
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import pexpect

from ..models import ProcessResult
from . import procs

DEFAULT_OUTPUT_CAP = 8 * 1024 * 1024
TAIL_BYTES = 256 * 1024
ROWS, COLS = 40, 120
#: The label of the recording's marker at the moment an interactive agent gave its final answer.
ANSWER_MARKER = "final answer"


class CastWriter:
    """Writes an asciicast v2 file incrementally (header, then one event per read)."""

    def __init__(self, path: Path, *, width: int = COLS, height: int = ROWS, env: Optional[dict] = None):
        self.path = Path(path)
        self._fh = open(self.path, "w", encoding="utf-8")
        self._start = time.monotonic()
        #: Set when a write failed (a full disk): the recording stops, the run goes on.
        self.error: Optional[str] = None
        #: The agent's final answer, set by an interactive driver through :meth:`answer`.
        self.final_answer: Optional[str] = None
        header = {"version": 2, "width": width, "height": height, "timestamp": int(time.time()), "env": env or {}}
        self._emit(json.dumps(header) + "\n")

    def _emit(self, line: str) -> None:
        if self.error is not None:
            return
        try:
            self._fh.write(line)
        except OSError as exc:
            self.error = f"terminal recording stopped: {exc}"

    def output(self, text: str) -> None:
        if text:
            self._emit(json.dumps([round(time.monotonic() - self._start, 6), "o", text]) + "\n")

    def input(self, text: str) -> None:
        self._emit(json.dumps([round(time.monotonic() - self._start, 6), "i", text]) + "\n")

    def answer(self, text: str) -> None:
        """Record the agent's final answer as it is given: kept for the cell, marked in the recording.

        The marker (an asciicast v2 ``m`` event, ``final answer``) puts the moment on the
        recording's timeline; a later answer replaces an earlier one.
        """
        self.final_answer = text
        self._emit(json.dumps([round(time.monotonic() - self._start, 6), "m", ANSWER_MARKER]) + "\n")

    def close(self) -> None:
        if not self._fh.closed:
            try:
                self._fh.close()
            except OSError as exc:
                self.error = self.error or f"terminal recording stopped: {exc}"


def run_in_pty(
    argv: Sequence[str],
    *,
    env: dict,
    cwd: Path,
    timeout: float,
    cast_path: Optional[Path] = None,
    output_cap: int = DEFAULT_OUTPUT_CAP,
    stdin_devnull: bool = True,
    marker: Optional[str] = None,
    interact: Optional[Callable[[pexpect.spawn, CastWriter | None], None]] = None,
    watch: Optional[Callable[..., Optional[str]]] = None,
) -> ProcessResult:
    """Run ``argv`` under a PTY until it exits or ``timeout`` seconds pass.

    On timeout the child's process group is killed, and so is every process carrying
    ``marker`` in its environment (catching daemons that left the group).
    ``interact`` (interactive mode) gets the spawned child to type into, and the recording,
    whose :meth:`CastWriter.answer` keeps the agent's final answer the moment the driver sees it.
    ``watch`` is called between reads (and once with ``force=True`` at the end); when
    it returns a reason (a resource limit broken) the child is killed and the reason
    becomes ``ProcessResult.error``.  Output past ``output_cap`` bytes is read and
    dropped, never kept: only the last :data:`TAIL_BYTES` stay in memory.
    """
    argv = list(argv)
    if stdin_devnull:
        argv = ["/bin/sh", "-c", 'exec "$@" </dev/null', "cab-launch", *argv]
    cast = CastWriter(cast_path, env={"TERM": env.get("TERM", "xterm"), "SHELL": "/bin/sh"}) if cast_path else None
    start = time.monotonic()
    deadline = start + timeout
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    tail = bytearray()
    seen = 0
    truncated = False
    timed_out = False
    error = None
    try:
        child = pexpect.spawn(argv[0], argv[1:], env=env, cwd=str(cwd), dimensions=(ROWS, COLS), echo=False)
    except Exception as exc:  # e.g. the executable does not exist
        if cast:
            cast.close()
        return ProcessResult(exit_code=127, output=f"cannot start {argv[0]}: {exc}", error=str(exc))
    breach = None
    try:
        if interact is not None:
            interact(child, cast)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if watch is not None:
                breach = watch()
                if breach:
                    break
            try:
                chunk = child.read_nonblocking(65536, timeout=min(remaining, 0.5))
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                break
            seen += len(chunk)
            if seen <= output_cap:
                if cast:
                    cast.output(decoder.decode(chunk))
            else:
                truncated = True
            tail += chunk
            if len(tail) > 2 * TAIL_BYTES:  # trimmed in batches: per read it would copy the tail each time
                del tail[: len(tail) - TAIL_BYTES]
    finally:
        killed = 0
        if not (timed_out or breach):
            # EOF comes a moment before the exit status: reap a clean exit rather than kill it.
            settle = time.monotonic() + 0.2
            while child.isalive() and time.monotonic() < settle:
                time.sleep(0.002)
        if timed_out or breach or child.isalive():
            killed = procs.kill_group(child.pid)
        if marker:
            killed += procs.kill_marked(marker)
        try:
            # pexpect sleeps 0.1 s after close and after terminate by default; the child
            # is dead or killed by now, so those sleeps are pure overhead per command.
            child.delayafterclose = child.delayafterterminate = 0
            child.ptyproc.delayafterclose = child.ptyproc.delayafterterminate = 0
            _close(child)
        except Exception as exc:  # pragma: no cover - it outlived SIGKILL and five seconds
            error = str(exc)
        if cast:
            cast.output(decoder.decode(b"", final=True))
            cast.close()
    if watch is not None and not breach and not timed_out:
        breach = watch(force=True)  # what happened between the last check and the end
    if breach:
        error = breach
    elif cast is not None and cast.error and error is None:
        error = cast.error
    duration_ms = (time.monotonic() - start) * 1000
    exit_code = None if timed_out else (child.exitstatus if child.exitstatus is not None else _signal_code(child.signalstatus))
    text = output_text(tail, seen, truncated)
    return ProcessResult(
        exit_code=exit_code,
        timed_out=timed_out,
        output=text,
        output_truncated=truncated,
        duration_ms=duration_ms,
        active_ms=duration_ms,
        killed_processes=killed,
        error=error,
        answer=cast.final_answer if cast is not None else None,
    )


def _close(child, grace: float = 5.0) -> None:
    """Close ``child`` (killed or ended): a process SIGKILLed in the middle of a long system
    call (a million files being made) may take a moment to go; pexpect, told not to wait,
    would call that a failure to terminate it."""
    end = time.monotonic() + grace
    while True:
        try:
            child.close(force=True)
            return
        except Exception:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def output_text(tail: bytearray, seen: int, truncated: bool) -> str:
    """The kept tail of a command's output as text, saying so when the rest was dropped."""
    if len(tail) > TAIL_BYTES:
        del tail[: len(tail) - TAIL_BYTES]
    text = tail.decode("utf-8", errors="replace")
    if truncated:
        text = f"[output truncated: {seen} bytes, only the last {len(tail)} kept]\n" + text
    return text


def _signal_code(sig: Optional[int]) -> Optional[int]:
    return None if sig is None else 128 + sig


def final_screen(cast_path: Path, *, max_bytes: int = 128 * 1024) -> str:
    """Render the last screen of an asciicast with a terminal emulator (pyte).

    Only the last ``max_bytes`` of output are fed to the emulator (it renders about
    200 KB a second, and a screen is 40 rows): what an agent that printed for an hour
    left on the screen is in its last output, and rendering must not take longer
    than the cell did.
    """
    try:
        with open(cast_path, encoding="utf-8") as fh:
            header = json.loads(fh.readline())
            kept: collections.deque = collections.deque()
            size = 0
            for line in fh:
                event = json.loads(line)
                if event[1] != "o" or not event[2]:
                    continue
                kept.append(event[2])
                size += len(event[2])
                while size - len(kept[0]) >= max_bytes:
                    size -= len(kept.popleft())
    except (OSError, ValueError, IndexError, TypeError, AttributeError):
        return ""
    text = "".join(kept)[-max_bytes:]
    width, height = header.get("width", COLS), header.get("height", ROWS)
    lines = _plain_screen(text, width, height)
    if lines is None:  # pyte (and wcwidth's tables) only for output that needs a terminal emulator
        import pyte

        screen = pyte.Screen(width, height)
        pyte.Stream(screen).feed(text)
        lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


_PLAIN = re.compile(r"[\x20-\x7e\r\n]*")


def _plain_screen(text: str, width: int, height: int) -> Optional[list]:
    """The screen pyte would show for plain output (printable ASCII, every line ended by CR LF), else ``None``.

    Most commands print only that; rendering it by slicing is what pyte does for it,
    without feeding every character through a terminal emulator (issue 16).
    """
    if not _PLAIN.fullmatch(text) or text.count("\r") != text.count("\r\n") or text.count("\n") != text.count("\r\n"):
        return None
    rows: list = []
    for line in text.split("\r\n"):
        rows += [line[i:i + width] for i in range(0, len(line), width)] or [""]
    rows = [row.rstrip() for row in rows[-height:]]
    return rows + [""] * (height - len(rows))


__all__ = ["run_in_pty", "final_screen", "CastWriter", "ANSWER_MARKER", "signal"]
