"""Sending an upstream (or recorded) response to the agent while the exchange records it.

Streams go through event by event; other bodies go through whole when small (with
their length) and chunk by chunk when large, one chunk held back so the record is
stored before the agent can see the end.  Every byte passes the exchange's
:class:`~.limits.BodyCapture`, so memory stays bounded whatever the size.
"""

from __future__ import annotations

from typing import AsyncIterator, Optional

from ..aioserver import aiohttp, web  # imported when a client first reaches the proxy (issue 16)
from .exchange import ERROR_TEXT_LIMIT, Exchange, classify_status
from .sse import SSESplitter, event_data, is_sse

#: Request headers never forwarded upstream: hop-by-hop ones, ones aiohttp sets itself,
#: and credentials (the proxy supplies its own).
DROP_REQUEST_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "host", "content-length", "authorization", "accept-encoding",
    "x-api-key", "x-goog-api-key", "api-key",
})
#: Response headers not copied to the agent: the proxy re-frames the body itself
#: (and aiohttp has already decoded any content-encoding).
DROP_RESPONSE_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
    "content-length", "content-encoding", "date", "server",
})
#: A non-streamed body up to this size is sent whole, with its length.
WHOLE_BODY_BYTES = 1 << 20
#: An SSE event longer than this is passed on unread (no event may pile up in memory).
MAX_EVENT_BYTES = 8 << 20


class AgentGone(Exception):
    """The agent closed its connection while the proxy was still writing to it."""


async def write(request: web.Request, response: web.StreamResponse, data: Optional[bytes], eof: bool = False) -> None:
    try:
        if not response.prepared:
            await response.prepare(request)
        if data:
            await response.write(data)
        if eof:
            await response.write_eof()
    except (ConnectionError, aiohttp.ClientConnectionResetError) as exc:
        raise AgentGone() from exc


async def relay(request: web.Request, ex: Exchange, status: int, headers: multidict.CIMultiDict,
                chunks: AsyncIterator[bytes]) -> web.StreamResponse:
    """Send the response to the agent while recording it in ``ex``."""
    ex.status = status
    ex.content_type = headers.get("Content-Type", "")
    if is_sse(ex.content_type):
        return await _relay_stream(request, ex, status, headers, chunks)
    return await _relay_body(request, ex, status, headers, chunks)


def _error_head(ex: Exchange, status: int, head: bytes) -> None:
    kind = classify_status(status)
    if kind is not None:
        ex.fail(kind, head.decode("utf-8", "replace") or f"HTTP {status}")


async def _relay_body(request: web.Request, ex: Exchange, status: int, headers: multidict.CIMultiDict,
                      chunks: AsyncIterator[bytes]) -> web.StreamResponse:
    held: list[bytes] = []
    held_bytes = 0
    head = b""
    response: Optional[web.StreamResponse] = None
    async for chunk in chunks:
        ex.capture.feed(chunk)
        if len(head) < ERROR_TEXT_LIMIT:
            head += chunk[:ERROR_TEXT_LIMIT]
        held.append(chunk)
        held_bytes += len(chunk)
        if response is None and held_bytes > WHOLE_BODY_BYTES:
            response = ex.response = web.StreamResponse(status=status)
            response.headers.extend(headers)
            await write(request, response, None)
        if response is not None:
            while len(held) > 1:
                await write(request, response, held.pop(0))
    _error_head(ex, status, head[:ERROR_TEXT_LIMIT])
    ex.close()
    if response is None:
        response = ex.response = web.Response(status=status, body=b"".join(held))
        response.headers.extend(headers)
        await write(request, response, None, eof=True)
        return response
    for chunk in held:
        await write(request, response, chunk)
    await write(request, response, None, eof=True)
    return response


async def _relay_stream(request: web.Request, ex: Exchange, status: int, headers: multidict.CIMultiDict,
                        chunks: AsyncIterator[bytes]) -> web.StreamResponse:
    response = ex.response = web.StreamResponse(status=status)
    response.headers.extend(headers)
    await write(request, response, None)
    splitter = SSESplitter()
    error_head = b""
    async for chunk in chunks:
        ex.capture.feed(chunk)
        if status != 200 and len(error_head) < ERROR_TEXT_LIMIT:
            error_head += chunk
        events = splitter.feed(chunk)
        if events:
            out = [event for event in events if ex.observe_event(event, event_data(event))]
            if ex.saw_done:
                _end_stream(ex, status, error_head)
            if out:
                await write(request, response, b"".join(out))
        if splitter.pending > MAX_EVENT_BYTES:
            await write(request, response, splitter.flush())
    tail = splitter.flush()
    if tail.strip():
        keep = ex.observe_event(tail, event_data(tail))
        _end_stream(ex, status, error_head)
        if keep:
            await write(request, response, tail)
    _end_stream(ex, status, error_head)
    await write(request, response, None, eof=True)
    return response


def _end_stream(ex: Exchange, status: int, error_head: bytes) -> None:
    if ex.closed:
        return
    if status == 200:
        ex.finish_stream()
    else:
        ex.fail(classify_status(status) or "bad_response", error_head[:ERROR_TEXT_LIMIT].decode("utf-8", "replace") or f"HTTP {status}")
    ex.close()
