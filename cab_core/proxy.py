"""The recording proxy: every model call an agent makes goes through it and is written down.

The agent is pointed at :attr:`RecordingProxy.base_url` (``http://127.0.0.1:PORT/v1``)
with a dummy key; the proxy forwards ``/v1/<rest>`` to ``<upstream>/<rest>`` with the
real key and records one :class:`~cab_core.models.ModelCall` per
``POST …/chat/completions``: what was asked, what came back (streams reassembled),
token usage, latency, time to first token, and how it failed if it did.

What the proxy does to traffic, and why:

* Streams pass through event by event as they arrive, never buffered whole, so the
  agent sees the same token timing it would see without the proxy.
* A streaming request without ``stream_options.include_usage`` gets it added upstream,
  so tokens are always counted, and the extra usage-only chunk is taken out of what
  the agent receives, so agents that do not expect it do not break.
* The agent's ``Authorization`` header never reaches the upstream: the real key
  replaces it, or it is dropped when there is no key.  Nothing the proxy records holds
  headers, and a recording cassette is scrubbed of the key.
* Upstream failures become answers the agent understands (502 unreachable, 504
  timeout; 429 and 5xx pass through) and a classified ``error_kind`` in the record, so
  :meth:`RecordingProxy.infra_failure` can tell the runner that the endpoint, not the
  agent, failed the cell.

:class:`~cab_core.aioserver.BackgroundServer` runs it from its own thread and event loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Optional, Union

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from .aioserver import BackgroundServer
from .cassette import Cassette, request_hash
from .errors import CabError
from .models import ModelCall, ToolCall, utcnow

__all__ = ["BackgroundServer", "EndpointError", "RecordingProxy", "INFRA_ERROR_KINDS", "classify_status"]

#: ``error_kind`` values that mean the endpoint (not the agent) failed a call.
INFRA_ERROR_KINDS = frozenset({"connection", "timeout", "rate_limit", "server", "bad_response", "cassette_miss"})

#: Request headers never forwarded upstream: hop-by-hop ones, ones aiohttp sets itself,
#: and credentials (the proxy supplies its own).
_DROP_REQUEST_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "authorization",
        "accept-encoding",
    }
)
#: Response headers not copied to the agent: the proxy re-frames the body itself
#: (and aiohttp has already decoded any content-encoding).
_DROP_RESPONSE_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-encoding",
        "date",
        "server",
    }
)
_ERROR_TEXT_LIMIT = 500


class EndpointError(CabError, ValueError):
    """An upstream endpoint the proxy cannot use as given."""


def classify_status(status: int) -> Optional[str]:
    """The ``error_kind`` an HTTP status stands for (``None`` for success)."""
    if status < 400:
        return None
    if status == 429:
        return "rate_limit"
    if status >= 500:
        return "server"
    return "client"


#: What an agent may reach through the proxy (method, path below /v1): model calls and listings.
_ALLOWED_ROUTES = {
    ("POST", "/chat/completions"): "chat",
    ("POST", "/completions"): "forward",
    ("GET", "/models"): "forward",
}


def _allowed_route(method: str, rest: str) -> Optional[str]:
    """``chat``/``forward`` for a request the proxy relays, None for anything else."""
    from urllib.parse import unquote

    decoded = unquote(rest)
    if ".." in decoded.split("/") or "\\" in decoded or "%" in decoded:
        return None
    clean = decoded.rstrip("/")
    if method == "GET" and clean.startswith("/models/") and clean.count("/") >= 2:
        return "forward"  # /models/{id}, ids may contain '/'
    return _ALLOWED_ROUTES.get((method, clean))


def _json_error(status: int, message: str, kind: str) -> web.Response:
    body = {"error": {"message": message, "type": kind, "code": status}}
    return web.json_response(body, status=status)


class _AgentGone(Exception):
    """The agent closed its connection while the proxy was still writing to it."""


_UNPARSED = object()


class _Exchange:
    """What the proxy learns about one chat-completions request while relaying it.

    Work the agent need not wait for (parsing a non-streamed request and response,
    hashing the request, building the :class:`ModelCall`) is left until the record is
    read: :meth:`model_call` does it once, after :meth:`close` has frozen the exchange.
    """

    def __init__(self, index: int, body: bytes, parsed: Any, strip_usage: bool, store: Callable[["_Exchange"], None],
                 substitutions: Optional[dict] = None):
        self._store = store
        self.substitutions = substitutions
        self.closed = False
        self.t0 = time.perf_counter()
        self.timestamp = utcnow()
        self.index = index
        self.body = body
        self._parsed = parsed
        self.strip_usage = strip_usage
        self._hash: Optional[str] = None
        self._body_data: Optional[bytes] = None
        self._call: Optional[ModelCall] = None
        self._events: list[tuple[float, bytes]] = []
        self._stream_ended = False
        self.parts: list[str] = []
        self.tools: dict[int, list] = {}
        self.finish_reason: Optional[str] = None
        self.usage: Optional[dict] = None
        self.ttft_ms: Optional[float] = None
        self.end: Optional[float] = None
        self.status = 200
        self.error: Optional[str] = None
        self.error_kind: Optional[str] = None
        self.saw_done = False
        self.response: Optional[web.StreamResponse] = None

    @property
    def parsed(self) -> Any:
        """The request body as JSON (``None`` when it is not JSON)."""
        if self._parsed is _UNPARSED:
            try:
                self._parsed = json.loads(self.body) if self.body else None
            except ValueError:
                self._parsed = None
        return self._parsed

    @property
    def request_hash(self) -> str:
        if self._hash is None:
            parsed = self.parsed
            self._hash = request_hash(parsed if parsed is not None else self.body, self.substitutions)
        return self._hash

    def fail(self, kind: str, error: str) -> None:
        """Note an error while relaying; the first one is the cause, later ones are consequences.

        Once the exchange is closed (the record is stored), what happens after is not
        part of the call.
        """
        if not self.closed:
            self._note(kind, error)

    def _note(self, kind: str, error: str) -> None:
        if self.error_kind is None:
            self.error_kind = kind
            self.error = error[:_ERROR_TEXT_LIMIT]

    def _first_token(self, arrived: float) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = (arrived - self.t0) * 1000

    def _take_message(self, choice: dict, arrived: Optional[float]) -> None:
        """Add one choice (a streamed delta when ``arrived`` is its arrival time, else a whole message)."""
        message = choice.get("message" if arrived is None else "delta") or {}
        content = message.get("content")
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if content:
            if arrived is not None:
                self._first_token(arrived)
            self.parts.append(content)
        for position, call in enumerate(message.get("tool_calls") or ()):
            if not isinstance(call, dict):
                continue
            if arrived is not None:
                self._first_token(arrived)
            slot = self.tools.setdefault(call.get("index", position), ["", "", []])
            if call.get("id") and not slot[0]:
                slot[0] = call["id"]
            function = call.get("function") or {}
            name = function.get("name")
            if name and name != slot[1]:
                slot[1] += name
            if function.get("arguments"):
                slot[2].append(function["arguments"])
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]

    def observe_event(self, raw: bytes) -> bool:
        """Take in one SSE event (raw bytes, terminator included); return whether to forward it.

        Only what forwarding needs is decided here ([DONE], and whether this is a
        usage-only chunk to strip); the event is parsed when the record is built.
        """
        if self.closed:
            return True
        if raw.startswith(b"data: ") and raw.count(b"\n") <= 2:
            data = raw[6:].strip()  # the common one-line event
        else:
            lines = [line[5:] for line in raw.splitlines() if line.startswith(b"data:")]
            if not lines:
                return True  # comments, keep-alives, named events without data
            data = b"\n".join(v[1:] if v.startswith(b" ") else v for v in lines).strip()
        if data == b"[DONE]":
            self.saw_done = True
            return True
        self._events.append((time.perf_counter(), data))
        if self.strip_usage and b'"usage"' in data and b'"usage":null' not in data and b'"usage": null' not in data:
            try:
                obj = json.loads(data)
            except ValueError:
                return True
            # A usage-only chunk the agent did not ask for: counted, not forwarded.
            return not (isinstance(obj, dict) and not obj.get("choices") and isinstance(obj.get("usage"), dict))
        return True

    def _parse_event(self, arrived: float, data: bytes) -> None:
        try:
            obj = json.loads(data)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            self._note("bad_response", f"invalid JSON in stream event: {data[:200].decode('utf-8', 'replace')}")
            return
        if obj.get("error"):
            self._note("server", _text(obj["error"]))
            return
        if isinstance(obj.get("usage"), dict):
            self.usage = obj["usage"]
        for choice in obj.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._take_message(choice, arrived)

    def observe_body(self, status: int, data: bytes) -> None:
        """Take in a whole (non-streamed) response body; it is parsed when the record is built."""
        self.status = status
        self._body_data = data

    def _parse_body(self, data: bytes) -> None:
        status = self.status
        kind = classify_status(status)
        if kind is not None:
            self._note(kind, data.decode("utf-8", "replace"))
            return
        try:
            obj = json.loads(data)
        except ValueError:
            obj = None
        if not isinstance(obj, dict) or not isinstance(obj.get("choices"), list):
            if isinstance(obj, dict) and obj.get("error"):
                self._note("server", _text(obj["error"]))
            else:
                self._note("bad_response", "not a chat completion: " + data.decode("utf-8", "replace"))
            return
        if isinstance(obj.get("usage"), dict):
            self.usage = obj["usage"]
        for choice in obj["choices"]:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._take_message(choice, None)

    def finish_stream(self) -> None:
        """The stream ended cleanly (checked for completeness when the record is built)."""
        self._stream_ended = True

    def close(self) -> None:
        """Store the record (once).

        Called before the agent can see the end of the response, so that by the time
        an agent has its answer (and perhaps has exited) the call is in ``proxy.calls``.
        """
        if self.closed:
            return
        if self.end is None:
            self.end = time.perf_counter()
        self.closed = True
        self._store(self)

    def model_call(self) -> ModelCall:
        """The record of this exchange (built once; call only after :meth:`close`)."""
        if self._call is None:
            if self._body_data is not None and self.error_kind is None:
                self._parse_body(self._body_data)
            for arrived, data in self._events:
                self._parse_event(arrived, data)
            if self._stream_ended and not self.saw_done and self.finish_reason is None:
                self._note("bad_response", "stream ended without a finish_reason or [DONE]")
            self._call = self._build()
            self._body_data = None
            self._events = []
        return self._call

    def _build(self) -> ModelCall:
        parsed = self.parsed if isinstance(self.parsed, dict) else {}
        usage = self.usage or {}
        prompt = _int(usage.get("prompt_tokens"))
        completion = _int(usage.get("completion_tokens"))
        messages = parsed.get("messages")
        end = self.end if self.end is not None else time.perf_counter()
        return ModelCall(
            index=self.index,
            timestamp=self.timestamp,
            request_hash=self.request_hash,
            model=str(parsed.get("model") or ""),
            stream=parsed.get("stream") is True,
            messages=tuple(messages) if isinstance(messages, list) else (),
            completion="".join(self.parts),
            tool_calls=tuple(
                ToolCall(id=slot[0], name=slot[1], arguments="".join(slot[2]))
                for _, slot in sorted(self.tools.items(), key=lambda kv: kv[0] if isinstance(kv[0], int) else 0)
            ),
            finish_reason=self.finish_reason,
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=_int(usage.get("total_tokens")) or prompt + completion,
            latency_ms=round((end - self.t0) * 1000, 3),
            ttft_ms=None if self.ttft_ms is None else round(self.ttft_ms, 3),
            status=self.status,
            error=self.error,
            error_kind=self.error_kind,
        )


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class _SSESplitter:
    """Cuts a byte stream into complete SSE events (terminator included), keeping the bytes as sent."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf + data if self._buf else data
        events = []
        start = 0
        while True:
            lf = buf.find(b"\n\n", start)
            crlf = buf.find(b"\r\n\r\n", start)
            if lf < 0 and crlf < 0:
                break
            if crlf >= 0 and (lf < 0 or crlf < lf):
                end = crlf + 4
            else:
                end = lf + 2
            events.append(buf[start:end])
            start = end
        self._buf = buf[start:]
        return events

    def flush(self) -> bytes:
        rest, self._buf = self._buf, b""
        return rest


async def _replay_chunks(text: str) -> AsyncIterator[bytes]:
    """A recorded body, one SSE event at a time, as a live stream would arrive."""
    splitter = _SSESplitter()
    for event in splitter.feed(text.encode("utf-8")):
        yield event
    tail = splitter.flush()
    if tail:
        yield tail


def _is_sse(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"


# --------------------------------------------------------------------------- the proxy


class RecordingProxy(BackgroundServer):
    """A reverse proxy in front of an OpenAI-compatible endpoint that records every chat completion.

    ``upstream`` is the base URL the proxy's ``/v1`` stands for (for example
    ``http://127.0.0.1:9999/t/abc/v1``).  ``api_key`` is sent upstream as
    ``Authorization: Bearer …`` in place of whatever the agent sent.  With ``replay``
    the proxy answers chat completions from that cassette (a request it does not hold
    goes upstream when there is one, else gets a 500 ``cassette miss`` error); with
    ``record`` it adds every upstream chat-completion exchange to that cassette and
    saves it on :meth:`stop` when the cassette has a path.  ``unix_socket`` also serves
    the proxy on that socket path (for sandboxes without a network).  ``timeout_s``
    bounds connecting upstream and every wait for upstream bytes (an idle timeout, so
    long streams that keep producing are never cut).
    """

    _thread_name = "cab-proxy"

    def __init__(
        self,
        upstream: Optional[str],
        api_key: Optional[str] = None,
        *,
        replay: Optional[Cassette] = None,
        record: Optional[Cassette] = None,
        unix_socket: Union[str, Path, None] = None,
        timeout_s: float = 600,
        hash_substitutions: Optional[dict] = None,
    ):
        super().__init__(unix_socket=unix_socket)
        #: Per-cell strings (the work dir, the private HOME) replaced by placeholders before
        #: hashing, so a cassette recorded in one cell's folder replays in another's.
        self.hash_substitutions = dict(hash_substitutions or {})
        if upstream is None and replay is None:
            raise EndpointError("the recording proxy needs an upstream endpoint URL or a replay cassette")
        if upstream is not None:
            parsed = URL(upstream)
            if parsed.scheme not in ("http", "https") or not parsed.host:
                raise EndpointError(f"endpoint {upstream!r} is not an http(s) URL (expected e.g. http://host:port/v1)")
        self.upstream = upstream.rstrip("/") if upstream else None
        self._api_key = api_key or None
        self.replay = replay
        self.record = record
        self.timeout_s = float(timeout_s)
        self._lock = threading.Lock()
        self._calls: list[_Exchange] = []
        self._next_index = 0
        self._session: Optional[aiohttp.ClientSession] = None
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout_s, sock_read=self.timeout_s)

    def __repr__(self) -> str:
        where = f"http://127.0.0.1:{self.port}" if self.port else "not started"
        return f"RecordingProxy({where} -> {self.upstream or 'cassette'}, calls={len(self._calls)})"

    # ---------------------------------------------------------------- public API

    @property
    def base_url(self) -> str:
        """The URL agents use: ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    @property
    def calls(self) -> list[ModelCall]:
        """Every chat completion recorded so far, in the order the requests arrived (a snapshot)."""
        with self._lock:
            # Built under the lock: an exchange finishes its deferred parsing only once.
            return sorted((ex.model_call() for ex in self._calls), key=lambda c: c.index)

    def infra_failure(self) -> Optional[str]:
        """One line saying why the endpoint failed, when calls were made and none of them succeeded.

        ``None`` when there were no calls, when any call succeeded, or when a failure
        was the agent's own (a 4xx other than 429).
        """
        calls = self.calls
        if not calls or any(c.error_kind not in INFRA_ERROR_KINDS for c in calls):
            return None
        counts: dict[str, int] = {}
        for call in calls:
            counts[call.error_kind] = counts.get(call.error_kind, 0) + 1
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        last = (calls[-1].error or "").splitlines()
        detail = f"; last: {last[0][:200]}" if last else ""
        target = self.upstream or "replay cassette"
        return f"all {len(calls)} model call(s) to {target} failed ({summary}){detail}"

    def stop(self) -> None:
        """Stop serving; a recording cassette with a path is saved."""
        super().stop()
        if self.record is not None and self.record.path is not None:
            self.record.save()

    # ---------------------------------------------------------------- server side

    async def _build_app(self) -> web.Application:
        if self.upstream is not None:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=True, skip_auto_headers=("User-Agent",)
            )
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _after_cleanup(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _store(self, exchange: _Exchange) -> None:
        with self._lock:
            self._calls.append(exchange)

    def _take_index(self) -> int:
        with self._lock:
            index = self._next_index
            self._next_index += 1
            return index

    def _upstream_headers(self, request: web.Request) -> CIMultiDict:
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST_HEADERS)
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        headers["Accept-Encoding"] = "identity"
        return headers

    @staticmethod
    def _downstream_headers(headers: Any) -> CIMultiDict:
        return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in _DROP_RESPONSE_HEADERS)

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "[REDACTED]") if self._api_key and self._api_key in text else text

    def _to_placeholders(self, text: str) -> str:
        """A recorded response with this cell's paths replaced by their placeholders."""
        for old in sorted(self.hash_substitutions, key=len, reverse=True):
            if old:
                text = text.replace(old, self.hash_substitutions[old])
        return text

    def _from_placeholders(self, text: str) -> str:
        """A replayed response with placeholders turned into this cell's paths."""
        seen = set()
        for old, placeholder in self.hash_substitutions.items():
            if placeholder not in seen:
                seen.add(placeholder)
                text = text.replace(placeholder, old)
        return text

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.raw_path
        if path != "/v1" and not path.startswith("/v1/"):
            return _json_error(404, f"cab proxy serves /v1/... only, not {path}", "not_found")
        rest = path[3:]
        query = request.rel_url.raw_query_string
        route = _allowed_route(request.method, rest)
        if route is None:
            # The key is lent for model calls only: no files, fine-tuning, admin or dot segments.
            return _json_error(403, f"cab proxy forwards model calls only, not {request.method} {path}", "forbidden")
        body = await request.read()
        if route == "chat":
            return await self._chat(request, rest, query, body)
        return await self._forward(request, rest, query, body)

    def _target(self, rest: str, query: str) -> URL:
        return URL(f"{self.upstream}{rest}{'?' + query if query else ''}", encoded=True)

    async def _forward(self, request: web.Request, rest: str, query: str, body: bytes) -> web.StreamResponse:
        """Anything but chat completions: relay as is, record nothing."""
        if self.upstream is None:
            if request.method == "GET" and rest.rstrip("/") == "/models" and self.replay is not None:
                models = sorted({str(e.request.get("model")) for e in self.replay if isinstance(e.request, dict)})
                data = [{"id": m, "object": "model", "created": 0, "owned_by": "cassette"} for m in models]
                return web.json_response({"object": "list", "data": data})
            return _json_error(502, f"cab proxy replays chat completions only; no upstream for {rest}", "no_upstream")
        assert self._session is not None
        response: Optional[web.StreamResponse] = None
        try:
            async with self._session.request(
                request.method, self._target(rest, query), headers=self._upstream_headers(request), data=body or None
            ) as upstream:
                response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
                response.headers.extend(self._downstream_headers(upstream.headers))
                await self._write(request, response, None)
                async for chunk in upstream.content.iter_any():
                    await self._write(request, response, chunk)
                await self._write(request, response, None, eof=True)
                return response
        except _AgentGone:
            return response
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
            if response is not None and response.prepared:
                if request.transport is not None:
                    request.transport.close()
                return response
            if isinstance(exc, asyncio.TimeoutError):
                return _json_error(504, f"cab proxy: upstream {self.upstream} timed out after {self.timeout_s:g}s", "timeout")
            return _json_error(502, f"cab proxy: upstream {self.upstream} unreachable: {exc}", "connection")

    async def _chat(self, request: web.Request, rest: str, query: str, body: bytes) -> web.StreamResponse:
        # A body without the word "stream" is not a streaming request: forward it
        # untouched and leave parsing it until the record is read.
        parsed: Any = _UNPARSED
        if b'"stream"' in body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        upstream_body = body
        strip_usage = False
        if isinstance(parsed, dict) and parsed.get("stream") is True:
            options = parsed.get("stream_options")
            options = options if isinstance(options, dict) else {}
            if not options.get("include_usage"):
                strip_usage = True
                upstream_body = json.dumps({**parsed, "stream_options": {**options, "include_usage": True}}).encode()
        ex = _Exchange(self._take_index(), body, parsed, strip_usage, self._store, self.hash_substitutions)
        try:
            return await self._chat_exchange(request, ex, rest, query, upstream_body)
        except asyncio.CancelledError:
            ex.fail("timeout", "cut off: the proxy stopped before the response ended")
            raise
        finally:
            ex.close()

    async def _chat_exchange(
        self, request: web.Request, ex: _Exchange, rest: str, query: str, upstream_body: bytes
    ) -> web.StreamResponse:
        if self.replay is not None:
            entry = self.replay.lookup(ex.request_hash)
            if entry is not None:
                headers = CIMultiDict({"Content-Type": entry.content_type})
                body = self._from_placeholders(entry.response)
                return await self._relay(request, ex, entry.status, headers, _replay_chunks(body), None)
            if self.upstream is None:
                model = ex.parsed.get("model") if isinstance(ex.parsed, dict) else None
                message = f"cassette miss for request {ex.request_hash} (model {model!r}): record it first"
                ex.status = 500
                ex.fail("cassette_miss", message)
                return _json_error(500, message, "cassette_miss")
        assert self._session is not None
        try:
            async with self._session.post(
                self._target(rest, query), data=upstream_body, headers=self._upstream_headers(request)
            ) as upstream:
                tee: Optional[list[bytes]] = [] if self.record is not None else None
                response = await self._relay(
                    request, ex, upstream.status, self._downstream_headers(upstream.headers), upstream.content.iter_any(), tee
                )
                if tee is not None and ex.error_kind not in ("connection", "timeout", "client"):
                    self._record_exchange(ex, upstream.status, upstream.headers.get("Content-Type", ""), b"".join(tee))
                return response
        except _AgentGone:
            ex.fail("client", "the agent closed the connection before the response ended")
            return ex.response
        except asyncio.TimeoutError:
            message = f"cab proxy: upstream {self.upstream} timed out after {self.timeout_s:g}s"
            return self._upstream_failed(request, ex, 504, "timeout", message)
        except (aiohttp.ClientError, OSError) as exc:
            message = f"cab proxy: upstream {self.upstream} failed: {type(exc).__name__}: {exc}"
            return self._upstream_failed(request, ex, 502, "connection", message)

    def _record_exchange(self, ex: _Exchange, status: int, content_type: str, data: bytes) -> None:
        if ex.parsed is not None:
            request = json.loads(self._scrub(json.dumps(ex.parsed, ensure_ascii=False)))
        else:
            request = self._scrub(ex.body.decode("utf-8", "replace"))
        assert self.record is not None
        self.record.add(ex.request_hash, request, status, content_type,
                        self._to_placeholders(self._scrub(data.decode("utf-8", "replace"))))

    def _upstream_failed(self, request: web.Request, ex: _Exchange, status: int, kind: str, message: str) -> web.StreamResponse:
        ex.fail(kind, message)
        if ex.response is not None and ex.response.prepared:
            # Headers are out: the only honest signal left is a broken connection.
            if request.transport is not None:
                request.transport.close()
            return ex.response
        ex.status = status
        return _json_error(status, message, kind)

    async def _relay(
        self,
        request: web.Request,
        ex: _Exchange,
        status: int,
        headers: CIMultiDict,
        chunks: AsyncIterator[bytes],
        tee: Optional[list[bytes]],
    ) -> web.StreamResponse:
        """Send the upstream (or recorded) response to the agent while recording it."""
        ex.status = status
        content_type = headers.get("Content-Type", "")
        if not _is_sse(content_type):
            data = b"".join([chunk async for chunk in chunks])
            if tee is not None:
                tee.append(data)
            ex.observe_body(status, data)
            ex.close()
            response = web.Response(status=status, body=data)
            response.headers.extend(headers)
            ex.response = response
            await self._write(request, response, None, eof=True)
            return response

        response = web.StreamResponse(status=status)
        response.headers.extend(headers)
        ex.response = response
        await self._write(request, response, None)
        splitter = _SSESplitter()
        error_head = b""
        async for chunk in chunks:
            if tee is not None:
                tee.append(chunk)
            if status != 200 and len(error_head) < _ERROR_TEXT_LIMIT:
                error_head += chunk
            events = splitter.feed(chunk)
            if events:
                out = [event for event in events if ex.observe_event(event)]
                if ex.saw_done:
                    self._end_stream(ex, status, error_head)
                if out:
                    await self._write(request, response, b"".join(out))
        tail = splitter.flush()
        if tail.strip():
            keep = ex.observe_event(tail)
            self._end_stream(ex, status, error_head)
            if keep:
                await self._write(request, response, tail)
        self._end_stream(ex, status, error_head)
        await self._write(request, response, None, eof=True)
        return response

    @staticmethod
    def _end_stream(ex: _Exchange, status: int, error_head: bytes) -> None:
        if ex.closed:
            return
        if status == 200:
            ex.finish_stream()
        else:
            ex.fail(classify_status(status) or "bad_response", error_head.decode("utf-8", "replace") or f"HTTP {status}")
        ex.close()

    @staticmethod
    async def _write(request: web.Request, response: web.StreamResponse, data: Optional[bytes], eof: bool = False) -> None:
        try:
            if not response.prepared:
                await response.prepare(request)
            if data:
                await response.write(data)
            if eof:
                await response.write_eof()
        except (ConnectionError, aiohttp.ClientConnectionResetError) as exc:
            raise _AgentGone() from exc
