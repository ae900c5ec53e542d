"""Server-sent events as the proxy relays them: cut into whole events, bytes kept as sent."""

from __future__ import annotations

import re
from typing import AsyncIterator, Optional

__all__ = ["SSESplitter", "event_data", "is_sse", "replay_chunks"]


#: A blank line: two line ends in a row, each CRLF, LF or a lone CR (the SSE spec allows all three).
_BLANK_LINE = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r(?!\n))")


class SSESplitter:
    """Cuts a byte stream into complete SSE events (terminator included), keeping the bytes as sent.

    Any of the spec's line ends ends a line (``\\r\\n``, ``\\n``, a lone ``\\r``, mixed); a
    ``\\r`` at the end of what has arrived waits for the next byte (it may begin a ``\\r\\n``).
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf + data if self._buf else data
        events = []
        start = 0
        for match in _BLANK_LINE.finditer(buf):
            if match.start() < start:
                continue
            if match.end() == len(buf) and buf.endswith(b"\r"):
                break  # a lone CR so far: it may be the first half of a CRLF
            events.append(buf[start:match.end()])
            start = match.end()
        self._buf = buf[start:]
        return events

    @property
    def pending(self) -> int:
        """Bytes held waiting for an event's end."""
        return len(self._buf)

    def flush(self) -> bytes:
        rest, self._buf = self._buf, b""
        return rest


def event_data(raw: bytes) -> Optional[bytes]:
    """The data of one raw SSE event (lines joined), or ``None`` for comments and data-less events."""
    if raw.startswith(b"data: ") and raw.endswith(b"\n\n") and raw.count(b"\n") == 2 and b"\r" not in raw:
        return raw[6:].strip()  # the common one-line event
    lines = [line[5:] for line in raw.splitlines() if line.startswith(b"data:")]
    if not lines:
        return None
    return b"\n".join(v[1:] if v.startswith(b" ") else v for v in lines).strip()


async def replay_chunks(text: str) -> AsyncIterator[bytes]:
    """A recorded body, one SSE event at a time, as a live stream would arrive."""
    splitter = SSESplitter()
    for event in splitter.feed(text.encode("utf-8")):
        yield event
    tail = splitter.flush()
    if tail:
        yield tail


def is_sse(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"
