"""Driving a full-screen TUI (pi's kind) through a terminal emulator: type the task, wait, read the answer.

Many coding agents draw the same shape: the conversation scrolls above an input box
drawn between two horizontal rules, a "busy" word shows while the model works, and a
slash command quits.  :func:`drive_screen` drives any such TUI, given the word that
means busy and the test that it is ready; the screen is emulated with ``pyte`` (what
a real terminal would show, colours included), so the answer is read from the screen,
not guessed from the byte stream.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from . import _agents


class ScreenTee:
    """A pexpect ``logfile_read`` feeding both the cell's recording and an emulated screen."""

    def __init__(self, child, cast) -> None:
        import pyte

        rows, columns = child.getwinsize()
        self.screen = pyte.HistoryScreen(columns, rows, history=5000)
        self.stream = pyte.ByteStream(self.screen)
        self.recorder = _agents.CastRecorder(cast)

    def write(self, data: bytes) -> None:
        self.recorder.write(data)
        self.stream.feed(data)

    def flush(self) -> None:
        pass

    def shown(self) -> str:
        """The visible screen as text."""
        return "\n".join(self.screen.display)


def answer_above_input(screen) -> str:
    """The last answer: the default-background text just above the input box (between the last two rules).

    User messages and tool calls sit in coloured boxes; the assistant's text is on the
    terminal's own background.  ``screen`` is a ``pyte.HistoryScreen``: lines scrolled off
    the top count too.
    """
    width = screen.columns
    rows = [*screen.history.top, *(screen.buffer[y] for y in range(screen.lines))]

    def text(row) -> str:
        return "".join(row[x].data for x in range(width)).rstrip()

    def rule(row) -> bool:
        return bool(text(row)) and set(text(row)) == {"─"}

    rules = [i for i, row in enumerate(rows) if rule(row)]
    if len(rules) < 2:
        return ""
    start = end = rules[-2]
    while start > 0 and all(rows[start - 1][x].bg == "default" for x in range(width)) and not rule(rows[start - 1]):
        start -= 1
    lines = [text(row) for row in rows[start:end]]
    return "\n".join(line[1:] if line.startswith(" ") else line for line in lines).strip()


def drive_screen(child, cast, ctx, *, ready: Callable[[str], bool], busy: str, quit: str, idle: float = 3.0,
                 answer: Optional[Callable[[str], str]] = None) -> None:
    """Wait until ``ready(screen text)``, paste the task, Enter, wait while ``busy`` shows, keep the answer, ``quit``.

    ``-o idle_seconds`` (default ``idle``) is the quiet that means the turn ended;
    ``-o interactive_timeout`` bounds the whole turn (the runner's timeout is the backstop).
    ``answer(text)`` picks the agent's own answer from the text above the input box.
    """
    tee = ScreenTee(child, cast)
    quiet = float(ctx.options.get("idle_seconds", idle))
    limit = time.monotonic() + float(ctx.options.get("interactive_timeout", 540))
    child.logfile_read = tee
    try:
        # A slow start still gets the task typed: the runner's timeout is the backstop.
        _agents.wait_for(child, lambda: ready(tee.shown()), deadline=time.monotonic() + 60)
        _agents.read_until_quiet(child, quiet=1.0, deadline=time.monotonic() + 30)
        # Bracketed paste, so newlines in the task stay in the message instead of sending it.
        _agents.type_text(child, cast, "\x1b[200~" + ctx.task.prompt + "\x1b[201~")
        _agents.read_until_quiet(child, quiet=0.5, deadline=time.monotonic() + 10)
        _agents.type_text(child, cast, "\r")
        _agents.wait_for(child, lambda: busy in tee.shown(), deadline=time.monotonic() + 10)
        if _agents.read_until_quiet(child, quiet=quiet, deadline=limit, until=lambda: busy not in tee.shown()):
            above = answer_above_input(tee.screen)
            _agents.give_answer(cast, answer(above) if answer else above)
        _agents.quit_tui(child, cast, quit)
    finally:
        child.logfile_read = None


def drive_prompt(child, cast, ctx, *, prompt: str, quit: str, answer: Callable[[str], str], idle: float = 2.0) -> None:
    """A line-prompt REPL (aider's kind): wait for ``prompt``, type the task as one line, wait for the next
    ``prompt``, keep ``answer(reply)``, ``quit``.  Options as for :func:`drive_screen`."""
    recorder = _agents.CastRecorder(cast)
    child.logfile_read = recorder
    quiet = float(ctx.options.get("idle_seconds", idle))
    limit = time.monotonic() + float(ctx.options.get("interactive_timeout", 540))

    def prompts() -> int:
        return recorder.text().count(prompt)

    try:
        _agents.wait_for(child, lambda: prompts() >= 1, deadline=time.monotonic() + 120)
        # The REPL reads one line: newlines in the task would send it in pieces.
        _agents.type_text(child, cast, " ".join(ctx.task.prompt.split()) + "\r")
        typed_at = len(recorder.seen)
        if _agents.read_until_quiet(child, quiet=quiet, deadline=limit, until=lambda: prompts() >= 2):
            reply = _agents.strip_ansi(recorder.seen[typed_at:].decode("utf-8", errors="replace"))
            _agents.give_answer(cast, answer(reply.rsplit(prompt, 1)[0]))
        _agents.quit_tui(child, cast, quit)
    finally:
        child.logfile_read = None


def last_block(text: str, *, start: str, stop: str) -> str:
    """The last block of ``text`` that begins with a line starting ``start``, cut at the first line
    starting ``stop`` (a TUI's status line), without the ``start`` marker: Claude Code's ``●``
    answer above its ``✻`` timing line."""
    lines = text.splitlines()
    end = next((i for i, line in enumerate(lines) if line.lstrip().startswith(stop)), len(lines))
    starts = [i for i, line in enumerate(lines[:end]) if line.startswith(start)]
    block = lines[starts[-1]:end] if starts else lines[:end]
    return "\n".join(block).removeprefix(start).strip()
