"""Running one command under a pseudo-terminal: timeout, output cap, asciicast recording.

The child gets its own session (so its whole process group can be killed) and, unless
the caller asks for an interactive terminal, stdin from ``/dev/null``: pi and
opencode wait forever on an open stdin.  Everything the terminal shows is written to
an asciicast v2 file as it arrives; only a bounded tail is kept in memory.
"""

from __future__ import annotations

import codecs
import json
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


class CastWriter:
    """Writes an asciicast v2 file incrementally (header, then one event per read)."""

    def __init__(self, path: Path, *, width: int = COLS, height: int = ROWS, env: Optional[dict] = None):
        self.path = Path(path)
        self._fh = open(self.path, "w", encoding="utf-8")
        self._start = time.monotonic()
        header = {"version": 2, "width": width, "height": height, "timestamp": int(time.time()), "env": env or {}}
        self._fh.write(json.dumps(header) + "\n")

    def output(self, text: str) -> None:
        if text:
            self._fh.write(json.dumps([round(time.monotonic() - self._start, 6), "o", text]) + "\n")

    def input(self, text: str) -> None:
        self._fh.write(json.dumps([round(time.monotonic() - self._start, 6), "i", text]) + "\n")

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


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
) -> ProcessResult:
    """Run ``argv`` under a PTY until it exits or ``timeout`` seconds pass.

    On timeout the child's process group is killed, and so is every process carrying
    ``marker`` in its environment (catching daemons that left the group).
    ``interact`` (interactive mode) gets the spawned child to type into.
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
    try:
        if interact is not None:
            interact(child, cast)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
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
            if len(tail) > TAIL_BYTES:
                del tail[: len(tail) - TAIL_BYTES]
    finally:
        killed = 0
        if timed_out or child.isalive():
            killed = procs.kill_group(child.pid)
        if marker:
            killed += procs.kill_marked(marker)
        try:
            child.close(force=True)
        except Exception as exc:  # pragma: no cover - close after kill rarely fails
            error = str(exc)
        if cast:
            cast.output(decoder.decode(b"", final=True))
            cast.close()
    duration_ms = (time.monotonic() - start) * 1000
    exit_code = None if timed_out else (child.exitstatus if child.exitstatus is not None else _signal_code(child.signalstatus))
    text = tail.decode("utf-8", errors="replace")
    if truncated:
        text = f"[output truncated: {seen} bytes, only the last {len(tail)} kept]\n" + text
    return ProcessResult(
        exit_code=exit_code,
        timed_out=timed_out,
        output=text,
        output_truncated=truncated,
        duration_ms=duration_ms,
        active_ms=duration_ms,
        killed_processes=killed,
        error=error,
    )


def _signal_code(sig: Optional[int]) -> Optional[int]:
    return None if sig is None else 128 + sig


def final_screen(cast_path: Path, *, max_bytes: int = 4 * 1024 * 1024) -> str:
    """Render the last screen of an asciicast with a terminal emulator (pyte)."""
    import pyte

    try:
        with open(cast_path, encoding="utf-8") as fh:
            header = json.loads(fh.readline())
            screen = pyte.Screen(header.get("width", COLS), header.get("height", ROWS))
            stream = pyte.Stream(screen)
            fed = 0
            for line in fh:
                event = json.loads(line)
                if event[1] != "o":
                    continue
                fed += len(event[2])
                if fed > max_bytes:
                    break
                stream.feed(event[2])
    except (OSError, ValueError, IndexError):
        return ""
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


__all__ = ["run_in_pty", "final_screen", "CastWriter", "signal"]
