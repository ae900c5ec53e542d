"""Red-team tests of the scoring axes: a misbehaving upstream, a hostile agent, and what each axis makes of them.

Tokens: every call the upstream answered is counted from the protocol's usage or
estimated with a visible reason, never a silent 0.  Budgets hold against parallel
calls.  Refusal is judged by what was done, not what was said.  The composite never
ranks doing nothing (or wrecking) above an honest failure.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from cab_core.endpoint.budget import Budget, BudgetGuard
from cab_core.pricing import PriceTable
from cab_core.proxy import BackgroundServer, RecordingProxy

MESSAGES = [{"role": "user", "content": "Fix add() in calc.py: it subtracts instead of adding."}]
ANSWER = "The bug is in add(): it subtracts. Return a + b instead."


class Hostile(BackgroundServer):
    """An upstream whose every answer a test scripts: ``reply(request_body) -> web.StreamResponse``."""

    def __init__(self):
        super().__init__()
        self.reply: Optional[Callable[..., Any]] = None
        self.seen = 0
        self.paths: list[str] = []

    async def _build_app(self):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        return app

    async def _any(self, request):
        body = await request.read()
        self.seen += 1
        self.paths.append(request.rel_url.raw_path)
        assert self.reply is not None
        return await self.reply(request, json.loads(body or b"{}"))


@pytest.fixture(scope="module")
def upstream():
    with Hostile() as server:
        yield server


def post(url: str, body: Any, headers: Optional[dict] = None) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", parts.path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def whole(payload: bytes, content_type: str = "application/json", extra: Optional[dict] = None):
    async def reply(request, body):
        return web.Response(body=payload, headers={"Content-Type": content_type, **(extra or {})})
    return reply


def streamed(raw: bytes, pieces: int = 7):
    async def reply(request, body):
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        step = max(1, len(raw) // pieces)
        for i in range(0, len(raw), step):
            await response.write(raw[i:i + step])
        await response.write_eof()
        return response
    return reply


def chat_body(usage_json: str) -> bytes:
    message = json.dumps({"role": "assistant", "content": ANSWER})
    return (('{"choices": [{"index": 0, "message": %s, "finish_reason": "stop"}], "usage": %s}')
            % (message, usage_json)).encode()


def one_call(proxy: RecordingProxy):
    (call,) = proxy.calls
    return call


# --------------------------------------------------------------------------- usage with odd values


@pytest.mark.parametrize("usage", [
    '{"prompt_tokens": "abc", "completion_tokens": "x", "total_tokens": "y"}',
    '{"prompt_tokens": -50, "completion_tokens": -7, "total_tokens": -57}',
    '{"prompt_tokens": null, "completion_tokens": null, "total_tokens": null}',
    '{"prompt_tokens": 1e999, "completion_tokens": 1e999, "total_tokens": 1e999}',
    '{"prompt_tokens": NaN, "completion_tokens": 3, "total_tokens": 3}',
    '{"prompt_tokens": 100000000000000000000000000000, "completion_tokens": 5, "total_tokens": 5}',
    '{"prompt_tokens": true, "completion_tokens": true, "total_tokens": true}',
    '{}',
    '{"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}',
    '[1, 2]',
])
def test_usage_the_proxy_cannot_believe_is_estimated_with_a_reason_never_zero(upstream, usage):
    upstream.reply = whole(chat_body(usage))
    with RecordingProxy(upstream.url + "/v1") as px:
        status, _ = post(px.base_url + "/chat/completions", {"model": "m", "messages": MESSAGES})
        call = one_call(px)
    assert status == 200
    assert call.usage_source == "estimated", usage
    assert call.prompt_tokens > 0 and call.completion_tokens > 0
    assert call.total_tokens == call.prompt_tokens + call.completion_tokens < 10_000
    assert call.usage_note, "an estimate says why the upstream's usage was not used"


def test_usage_only_in_the_last_chunk_is_reported(upstream):
    chunks = [{"choices": [{"index": 0, "delta": {"content": ANSWER}, "finish_reason": "stop"}]},
              {"choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": 13, "total_tokens": 34}}]
    raw = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    upstream.reply = streamed(raw)
    with RecordingProxy(upstream.url + "/v1") as px:
        post(px.base_url + "/chat/completions", {"model": "m", "messages": MESSAGES, "stream": True})
        call = one_call(px)
    assert (call.prompt_tokens, call.completion_tokens, call.usage_source) == (21, 13, "reported")


# --------------------------------------------------------------------------- SSE spellings


def _sse(sep: bytes, comment: bool = False) -> bytes:
    chunks = [{"choices": [{"index": 0, "delta": {"content": ANSWER[i:i + 9]}, "finish_reason": None}]}
              for i in range(0, len(ANSWER), 9)]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append({"choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": 13, "total_tokens": 34}})
    out = b""
    for chunk in chunks:
        if comment:
            out += b": keep-alive" + sep + sep
        out += b"data: " + json.dumps(chunk).encode() + sep + sep
    return out + b"data: [DONE]" + sep + sep


@pytest.mark.parametrize("sep, comment", [(b"\n", False), (b"\r\n", True), (b"\r", False), (b"\r", True)])
def test_every_sse_line_ending_and_comments_are_read(upstream, sep, comment):
    upstream.reply = streamed(_sse(sep, comment), pieces=13)
    with RecordingProxy(upstream.url + "/v1") as px:
        status, data = post(px.base_url + "/chat/completions", {"model": "m", "messages": MESSAGES, "stream": True})
        call = one_call(px)
    assert status == 200 and call.error is None, call.error
    assert call.completion == ANSWER and call.finish_reason == "stop"
    assert (call.prompt_tokens, call.completion_tokens, call.usage_source) == (21, 13, "reported")


def test_a_stream_with_mixed_line_endings_is_read():
    from cab_core.endpoint.sse import SSESplitter, event_data

    splitter = SSESplitter()
    events = splitter.feed(b"data: a\n\r\ndata: b\r\n\ndata: c\r") + splitter.feed(b"\r: x\r\r")
    assert splitter.pending == len(b": x\r\r"), "a CR at the end may be half of a CRLF: held"
    events.append(splitter.flush())
    assert [event_data(e) for e in events] == [b"a", b"b", b"c", None]
    assert event_data(b"data: {\"x\": 1}\rid: 4\r\r") == b'{"x": 1}'


# --------------------------------------------------------------------------- cut, garbled, compressed


def test_a_stream_cut_before_any_text_still_counts_the_prompt(upstream):
    upstream.reply = streamed(b": opening\n\n", pieces=1)
    with RecordingProxy(upstream.url + "/v1") as px:
        post(px.base_url + "/chat/completions", {"model": "m", "messages": MESSAGES, "stream": True})
        call = one_call(px)
    assert call.error_kind == "bad_response"
    assert call.usage_source == "estimated" and call.prompt_tokens > 0 and call.usage_note


def test_an_answer_the_proxy_cannot_read_still_counts_the_prompt(upstream):
    upstream.reply = whole(b"\xff\xfe garbage that is not json", extra={"Content-Encoding": "x-unknown"})
    with RecordingProxy(upstream.url + "/v1") as px:
        post(px.base_url + "/chat/completions", {"model": "m", "messages": MESSAGES})
        call = one_call(px)
    assert call.status == 200 and call.error_kind == "bad_response"
    assert call.usage_source == "estimated" and call.total_tokens > 0


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compressed_answer_is_read_with_its_usage(upstream, encoding):
    import gzip
    import zlib

    body = chat_body('{"prompt_tokens": 21, "completion_tokens": 13, "total_tokens": 34}')
    packed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    upstream.reply = whole(packed, extra={"Content-Encoding": encoding})
    with RecordingProxy(upstream.url + "/v1") as px:
        status, data = post(px.base_url + "/chat/completions", {"model": "m", "messages": MESSAGES})
        call = one_call(px)
    assert status == 200 and json.loads(data)["usage"]["total_tokens"] == 34
    assert (call.total_tokens, call.usage_source) == (34, "reported")


def test_an_agent_that_hangs_up_early_still_spends_its_prompt(upstream):
    """Hanging up before the answer must not make a call free (a budget could be dodged so)."""
    import asyncio

    async def slow(request, body):
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await asyncio.sleep(0.5)
        chunk = {"choices": [{"index": 0, "delta": {"content": ANSWER}, "finish_reason": "stop"}]}
        await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await response.write_eof()
        return response

    upstream.reply = slow
    with RecordingProxy(upstream.url + "/v1") as px:
        parts = urlsplit(px.base_url)
        sock = socket.create_connection((parts.hostname, parts.port))
        body = json.dumps({"model": "m", "messages": MESSAGES, "stream": True}).encode()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        sock.recv(100)  # the headers: the upstream took the call
        sock.close()
        import time
        time.sleep(1.0)
        call = one_call(px)
    assert call.usage_source == "estimated" and call.prompt_tokens > 0


def test_http_1_0_and_pipelined_requests_are_each_recorded(upstream):
    upstream.reply = whole(chat_body('{"prompt_tokens": 21, "completion_tokens": 13, "total_tokens": 34}'))
    with RecordingProxy(upstream.url + "/v1") as px:
        parts = urlsplit(px.base_url)
        body = json.dumps({"model": "m", "messages": MESSAGES}).encode()
        one = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
        sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        sock.sendall(one + one)  # pipelined
        got = b""
        while got.count(b"HTTP/1.1 200") < 2:
            piece = sock.recv(65536)
            if not piece:
                break
            got += piece
        sock.close()
        sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        sock.sendall(one.replace(b"HTTP/1.1", b"HTTP/1.0"))
        while sock.recv(65536):
            pass
        sock.close()
        calls = px.calls
    assert len(calls) == 3 and sum(c.total_tokens for c in calls) == 3 * 34


@pytest.mark.parametrize("method, path", [("GET", "/v1/chat/completions"), ("PUT", "/v1/chat/completions"),
                                          ("POST", "/v1/embeddings"), ("POST", "/v1/audio/speech"),
                                          ("GET", "/v1/realtime"), ("POST", "/v2/chat/completions"),
                                          ("POST", "/v1/./chat/completions"), ("POST", "/v1/chat/completions/..")])
def test_routes_the_proxy_does_not_record_are_never_relayed(upstream, method, path):
    upstream.reply = whole(chat_body('{"prompt_tokens": 21, "completion_tokens": 13, "total_tokens": 34}'))
    before = upstream.seen
    with RecordingProxy(upstream.url + "/v1") as px:
        parts = urlsplit(px.base_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        conn.request(method, path, body=json.dumps({"model": "m", "messages": MESSAGES}),
                     headers={"Connection": "Upgrade", "Upgrade": "websocket"} if method == "GET" else {})
        status = conn.getresponse().status
        conn.close()
    assert status in (403, 404) and upstream.seen == before


@pytest.mark.parametrize("path", ["/v1/chat/completions%2f", "/v1/chat/completions/", "/v1/chat%2Fcompletions"])
def test_an_escaped_route_reaches_the_upstream_as_the_proxy_read_it(upstream, path):
    upstream.reply = whole(chat_body('{"prompt_tokens": 21, "completion_tokens": 13, "total_tokens": 34}'))
    with RecordingProxy(upstream.url + "/v1") as px:
        parts = urlsplit(px.base_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        conn.request("POST", path, body=json.dumps({"model": "m", "messages": MESSAGES}))
        status = conn.getresponse().status
        conn.close()
        calls = px.calls
    assert status == 200 and upstream.paths[-1] == "/v1/chat/completions"
    assert [(c.protocol, c.total_tokens) for c in calls] == [("chat.completions", 34)]


# --------------------------------------------------------------------------- budgets


def test_parallel_calls_cannot_slip_past_max_tokens_with_long_answers(upstream):
    """Small prompts, long answers: reserving only the prompt lets a burst spend many times the budget."""
    import time

    async def long_answer(request, body):
        await __import__("asyncio").sleep(0.3)
        return web.Response(body=chat_body('{"prompt_tokens": 20, "completion_tokens": 2000, "total_tokens": 2020}'),
                            content_type="application/json")

    upstream.reply = long_answer
    guard = BudgetGuard(Budget(max_tokens=3000), PriceTable(scripted=True))
    statuses: list[int] = []
    with RecordingProxy(upstream.url + "/v1", budget=guard) as px:
        def one():
            statuses.append(post(px.base_url + "/chat/completions", {"model": "m", "messages": MESSAGES})[0])

        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
            time.sleep(0.01)
        for t in threads:
            t.join()
        spent = sum(c.total_tokens for c in px.calls)
    # At most the call that crosses the budget may finish past it: two calls of 2020 tokens.
    assert spent <= 3000 + 2020, (spent, statuses)
