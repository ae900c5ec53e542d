"""The recording proxy: every model call an agent makes goes through it and is written down.

The agent is pointed at :attr:`RecordingProxy.base_url` (``http://127.0.0.1:PORT/v1``,
or the bare URL for clients that add ``/v1`` or ``/v1beta`` themselves) with a dummy
key; the proxy forwards ``/v1/<rest>`` and ``/v1beta/<rest>`` to ``<upstream>/<rest>``
with the real key, in the header the protocol wants.  Every ``POST`` it forwards is a model call in some wire protocol
(:mod:`.protocol`: Chat Completions, legacy Completions, ...) and becomes one
:class:`~cab_core.models.ModelCall`: what was asked, what came back (streams
reassembled), token usage (the upstream's, or counted with a tokenizer when it sent
none), latency, time to first token, and how it failed if it did.  ``GET /models``
is relayed unrecorded; nothing else is reachable (the key is lent for model calls only).

What the proxy does to traffic, and why:

* Requests are parsed as JSON and re-serialised, so the upstream sees exactly what
  the proxy understood (no key spelling or duplicate can mean one thing here and
  another there); the protocol may add what recording needs (``include_usage``).
* Streams pass through event by event as they arrive, never buffered whole.
* Bodies are bounded (:mod:`.limits`): a request over the cap is read through in
  constant memory and refused with a 413 in the protocol's shape; bodies over the
  record caps are relayed but kept as sha256 and size.
* The agent's key headers (``Authorization``, ``x-api-key``, ``x-goog-api-key``, a
  ``?key=``) never reach the upstream: the real key replaces them, or they are dropped.  Records and cassettes hold no headers.
* Cassettes (:mod:`.replaying`): a replay answers from one, a miss says what differs,
  a recording adds every upstream exchange, scrubbed and with placeholders.
* Upstream failures become answers the agent understands (502 unreachable, 504
  timeout; 429 and 5xx pass through) and a classified ``error_kind``.
  :meth:`RecordingProxy.infra_failure` blames the endpoint only on the harness's own
  evidence: a replay miss, or an independent probe (:mod:`.health`) failing too.
"""

from __future__ import annotations

import datetime as _dt
import json
import threading
from pathlib import Path
from typing import Any, Iterable, Optional, Union
from urllib.parse import quote, unquote, urlsplit

from ..aioserver import BackgroundServer, aiohttp, asyncio, web
from ..lazy import LazyModule
from ..cassette import PATTERN_PREFIX, Cassette
from ..errors import CabError, one_line
from ..models import ModelCall, utcnow
from .budget import BUDGET_KIND, BUDGET_STATUS, BudgetGuard, admit, output_cap
from .exchange import Exchange, classify_status
from .health import INFRA_ERROR_KINDS, environment_failure, probe
from .limits import BodyCapture, ByteBudget, ProxyLimits, read_request, refusal
from .placeholders import Placeholders, date_strings
from .protocol import WireProtocol, protocol_for, protocol_named, protocols
from .replaying import cassette_models, miss_reason, record_exchange
from .relay import DROP_REQUEST_HEADERS, DROP_RESPONSE_HEADERS, AgentGone, relay, write
from .sse import replay_chunks

# asyncio, aiohttp, multidict and yarl are imported when a client first reaches the proxy (see
# cab_core.aioserver): a cell whose agent calls no model never pays for them (issue 16).
multidict = LazyModule("multidict")
yarl = LazyModule("yarl")

#: The longest a health probe may take.
PROBE_TIMEOUT_S = 15.0


#: How a key goes upstream when no protocol says otherwise.
_BEARER = WireProtocol()


class EndpointError(CabError, ValueError):
    """An upstream endpoint the proxy cannot use as given."""


def _json_error(status: int, message: str, kind: str, protocol: Optional[WireProtocol] = None) -> web.Response:
    body = protocol.error_body(status, message, kind) if protocol else {"error": {"message": message, "type": kind, "code": status}}
    return web.json_response(body, status=status)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _clean_path(rest: str) -> Optional[str]:
    """The path below /v1 without a trailing slash; ``None`` for dot segments, backslashes or escapes."""
    decoded = unquote(rest)
    if ".." in decoded.split("/") or "\\" in decoded or "%" in decoded:
        return None
    return decoded.rstrip("/")


class RecordingProxy(BackgroundServer):
    """A reverse proxy in front of a model endpoint that records every model call (see the module docstring).

    ``upstream`` is the base URL the proxy's ``/v1`` stands for; ``api_key`` is sent
    upstream as ``Authorization: Bearer …``.  With ``replay`` the proxy answers from
    that cassette (a request it does not hold goes upstream when there is one, else
    gets a 500 ``cassette miss``); with ``record`` it adds every upstream exchange to
    that cassette, saved on :meth:`stop`.  ``unix_socket`` also serves the proxy on
    that path.  ``timeout_s`` bounds connecting upstream and every wait for upstream
    bytes.  ``hash_substitutions`` (this cell's folders -> placeholders) keep per-cell
    paths out of request hashes and cassettes.  ``model`` is the cell's model, the one
    a health probe asks for; ``limits`` bound what is held and recorded.  ``volatile``:
    regular expressions for what differs between two runs of the same cell in the agent's
    requests (the adapter's ``replay_volatile``), hashed as ``$VOLATILE``.
    """

    _thread_name = "cab-proxy"

    def __init__(self, upstream: Optional[str], api_key: Optional[str] = None, *, replay: Optional[Cassette] = None,
                 record: Optional[Cassette] = None, unix_socket: Union[str, Path, None] = None, timeout_s: float = 600,
                 hash_substitutions: Optional[dict] = None, model: Optional[str] = None,
                 limits: Optional[ProxyLimits] = None, budget: Optional[BudgetGuard] = None,
                 volatile: Iterable[str] = ()):
        super().__init__(unix_socket=unix_socket)
        if upstream is None and replay is None:
            raise EndpointError("the recording proxy needs an upstream endpoint URL or a replay cassette")
        if upstream is not None:
            try:
                parsed = urlsplit(upstream)
                host = parsed.hostname
            except ValueError:
                parsed, host = None, None
            if parsed is None or parsed.scheme not in ("http", "https") or not host:
                raise EndpointError(f"endpoint {upstream!r} is not an http(s) URL (expected e.g. http://host:port/v1)")
        self.upstream = upstream.rstrip("/") if upstream else None
        self._api_key = api_key or None
        self.replay, self.record = replay, record
        self.model = model
        self.limits = limits or ProxyLimits()
        #: The cell's budgets (:mod:`.budget`): asked before a call is relayed, told of every call stored.
        self.budget = budget
        self._budget = ByteBudget(self.limits.record_cell_bytes)
        self._inflight = ByteBudget(self.limits.inflight_request_bytes)
        started = utcnow().astimezone()
        # Today's date and tomorrow's (a cell may run past midnight) hash as $DATE.
        self.placeholders = Placeholders(hash_substitutions, date_strings([started, started + _dt.timedelta(days=1)]))
        #: Every substitution the request hash applies (cell folders and today's date).
        self.hash_substitutions = {**self.placeholders.for_hash,
                                   **{PATTERN_PREFIX + p: "$VOLATILE" for p in volatile}}
        self.timeout_s = float(timeout_s)
        self._lock = threading.Lock()
        self._calls: list[Exchange] = []
        self._misses: dict[int, str] = {}
        self._next_index = 0
        self._session: Optional[aiohttp.ClientSession] = None

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
        """Every model call recorded so far, in the order the requests arrived (a snapshot)."""
        with self._lock:
            # Built under the lock: an exchange finishes its deferred parsing only once.
            return sorted((ex.model_call() for ex in self._calls), key=lambda c: c.index)

    def infra_failure(self) -> Optional[str]:
        """One line starting ``environment:`` when the harness's side failed the cell, else ``None``.

        See :func:`.health.environment_failure`: a replay miss nobody answered, or no
        call succeeding while an independent probe of the upstream (with the cell's
        model) fails too.  Whatever the agent did is never the environment.
        """
        if self.failure is not None:  # the harness's own proxy failed its first client: never the agent's doing
            return self._scrub(one_line(self.failure, prefix="environment: the recording proxy could not start: "))
        calls = self.calls

        def probe_upstream() -> Optional[str]:
            assert self.upstream is not None
            protocol = protocol_named(calls[0].protocol) or protocols()["/chat/completions"]
            timeout = min(PROBE_TIMEOUT_S, self.timeout_s)
            found = probe(self.upstream, protocol, self.model, self._api_key, timeout)
            if found is None or not self.model or "HTTP 404" not in found:
                return found
            # Agents may send the cell's model under another prefix (aider's "openai/x" arrives as "x"):
            # the endpoint is healthy if it answers that name.  More probes can only clear the endpoint.
            tail = self.model.rstrip("/").rsplit("/", 1)[-1]
            for name in sorted({c.model for c in calls if c.model != self.model and c.model.rsplit("/", 1)[-1] == tail})[:2]:
                if probe(self.upstream, protocol, name, self._api_key, timeout) is None:
                    return None
            return found

        reason = environment_failure(calls, dict(self._misses), self.upstream, probe_upstream)
        return self._scrub(reason) if reason else None

    def stop(self) -> None:
        """Stop serving; a recording cassette with a path is saved."""
        super().stop()
        if self.record is not None and self.record.path is not None:
            self.record.save()

    # ---------------------------------------------------------------- server side

    async def _build_app(self) -> web.Application:
        if self.upstream is not None:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout_s, sock_read=self.timeout_s)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=timeout, auto_decompress=True, skip_auto_headers=("User-Agent",)
            )
        # Bodies are read chunk by chunk with their own cap (see _read_request), never with read().
        app = web.Application(client_max_size=1 << 20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _after_cleanup(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _store(self, exchange: Exchange) -> None:
        with self._lock:
            self._calls.append(exchange)
            if self.budget is not None:  # budget hook: what a stored call spent
                self.budget.record(exchange.model_call())

    def _take_index(self) -> int:
        with self._lock:
            index = self._next_index
            self._next_index += 1
            return index

    def _upstream_headers(self, request: web.Request, protocol: Optional[WireProtocol] = None) -> multidict.CIMultiDict:
        headers = multidict.CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in DROP_REQUEST_HEADERS)
        if protocol is None:  # a model listing: the key goes where the agent put its dummy one
            protocol = next((p for p in protocols().values() if p.key_header.lower() in request.headers
                             and p.key_header.lower() != "authorization"), None)
        if self._api_key:
            headers.update((protocol or _BEARER).auth_headers(self._api_key))
        headers["Accept-Encoding"] = "identity"
        return headers

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "[REDACTED]") if self._api_key and self._api_key in text else text

    def _target(self, rest: str, query: str) -> yarl.URL:
        return yarl.URL(f"{self.upstream}{rest}{'?' + query if query else ''}", encoded=True)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.raw_path
        # /v1beta (Gemini's clients) stands for the same upstream base as /v1.
        prefix = next((p for p in ("/v1", "/v1beta") if path == p or path.startswith(p + "/")), None)
        if prefix is None:
            return _json_error(404, f"cab proxy serves /v1/... and /v1beta/... only, not {path}", "not_found")
        rest, query = path[len(prefix):], request.rel_url.raw_query_string
        clean = _clean_path(rest)
        if clean is not None and request.method == "GET" and (clean == "/models" or clean.startswith("/models/")):
            return await self._forward(request, rest, query)
        protocol = protocol_for(request.method, clean) if clean is not None else None
        if protocol is None:
            return _json_error(403, f"cab proxy forwards model calls only, not {request.method} {path}", "forbidden")
        # The upstream gets the path as the proxy read it (no escape can mean one route here, another there).
        return await self._call(request, protocol, quote(clean, safe="/:@!$&'()*+,;=-._~"), protocol.upstream_query(query))

    async def _forward(self, request: web.Request, rest: str, query: str) -> web.StreamResponse:
        """Model listings: relayed as they are, recorded nowhere."""
        if self.upstream is None:
            if rest.rstrip("/") == "/models" and self.replay is not None:
                return web.json_response(cassette_models(self.replay))
            return _json_error(502, f"cab proxy replays model calls only; no upstream for {rest}", "no_upstream")
        assert self._session is not None
        response: Optional[web.StreamResponse] = None
        try:
            query = "&".join(p for p in query.split("&") if not p.startswith("key="))  # a Gemini key never goes up
            async with self._session.get(self._target(rest, query), headers=self._upstream_headers(request)) as upstream:
                response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
                response.headers.extend((k, v) for k, v in upstream.headers.items() if k.lower() not in DROP_RESPONSE_HEADERS)
                await write(request, response, None)
                async for chunk in upstream.content.iter_any():
                    await write(request, response, chunk)
                await write(request, response, None, eof=True)
                return response
        except AgentGone:
            return response
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
            if response is not None and response.prepared:
                if request.transport is not None:
                    request.transport.close()
                return response
            if isinstance(exc, asyncio.TimeoutError):
                return _json_error(504, f"cab proxy: upstream {self.upstream} timed out after {self.timeout_s:g}s", "timeout")
            return _json_error(502, f"cab proxy: upstream {self.upstream} unreachable: {exc}", "connection")

    def _refuse(self, protocol: WireProtocol, info: dict, capture: BodyCapture, refused: str) -> web.Response:
        """Answer (and record) a request whose body was not held: too large, or too much at once."""
        info.update(kept=False, hash=info["sha256"][:16])
        ex = Exchange(self._take_index(), protocol, None, info, capture, self._store, self.hash_substitutions)
        status, kind, message = refusal(refused, info["bytes"], self.limits)
        ex.status = status
        ex.fail("client", message)
        ex.close()
        return _json_error(status, message, kind, protocol)

    async def _call(self, request: web.Request, protocol: WireProtocol, rest: str, query: str) -> web.StreamResponse:
        held = 0
        try:
            # A list, so that _answer can drop the only reference to the body once it is sent on.
            read = list(await read_request(request.content, request.content_length, self.limits, self._inflight))
            held = read[2]
            return await self._answer(request, protocol, rest, query, read)
        finally:
            self._inflight.give_back(held)

    async def _answer(self, request: web.Request, protocol: WireProtocol, rest: str, query: str,
                      read: list) -> web.StreamResponse:
        body, counter, _, refused = read
        read[0] = None
        summary = counter.summary()
        info: dict[str, Any] = {"bytes": summary["bytes"], "sha256": summary["sha256"], "kept": True, "hash": None}
        capture = BodyCapture(self._budget, self.limits.record_call_bytes)
        if request.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
            body, refused = None, "encoded"  # what the proxy cannot read, it does not relay
        if body is None:
            return self._refuse(protocol, info, capture, refused)
        parsed: Any = None
        try:
            parsed = json.loads(body, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            pass
        if not isinstance(parsed, dict):  # what the proxy cannot read as the upstream would, it does not relay
            return self._refuse(protocol, info, capture, "not_json")
        cap = output_cap(parsed)
        upstream_body = dict(parsed)
        strip = protocol.prepare(upstream_body)
        send = json.dumps(upstream_body, ensure_ascii=False).encode("utf-8")
        del upstream_body, body
        parsed = protocol.annotate(parsed, _clean_path(rest) or "", query)  # what the route says (Gemini's model)
        info.update(model=protocol.model(parsed), stream=protocol.is_stream(parsed))
        ex = Exchange(self._take_index(), protocol, parsed, info, capture, self._store, self.hash_substitutions, strip)
        del parsed
        if not (summary["bytes"] <= self.limits.record_call_bytes and self._budget.take(summary["bytes"])):
            info["kept"] = False
            _ = ex.request_hash  # made now: the request itself is not kept
            if self.replay is None:
                ex.request = None
        try:
            # budget hook: admit (and reserve) or refuse
            refusal = await admit(self.budget, ex.index, summary["bytes"], cap) if self.budget is not None else None
            if refusal is not None:
                ex.status = BUDGET_STATUS
                ex.fail(BUDGET_KIND, refusal)
                return _json_error(BUDGET_STATUS, refusal, BUDGET_KIND, ex.protocol)
            return await self._exchange(request, ex, rest, query, send)
        except asyncio.CancelledError:
            ex.fail("timeout", "cut off: the proxy stopped before the response ended")
            raise
        finally:
            if not info["kept"]:
                ex.request = None  # too large to keep: the record holds its hash and size
            ex.close()

    async def _exchange(self, request: web.Request, ex: Exchange, rest: str, query: str, send: bytes) -> web.StreamResponse:
        if self.replay is not None:
            entry = self.replay.lookup(ex.request_hash)
            if entry is not None and "response" not in entry.omitted:
                body = self.placeholders.replay(entry.response, entry.content_type)
                headers = multidict.CIMultiDict({"Content-Type": entry.content_type})
                return await relay(request, ex, entry.status, headers, replay_chunks(body))
            self._misses[ex.index] = miss = miss_reason(self.replay, ex, entry, self.hash_substitutions)
            if self.upstream is None:
                ex.status = 500
                ex.fail("cassette_miss", miss)
                return _json_error(500, miss, "cassette_miss", ex.protocol)
        assert self._session is not None
        try:
            headers = self._upstream_headers(request, ex.protocol)
            async with self._session.post(self._target(rest, query), data=send, headers=headers) as up:
                del send
                headers = multidict.CIMultiDict((k, v) for k, v in up.headers.items() if k.lower() not in DROP_RESPONSE_HEADERS)
                response = await relay(request, ex, up.status, headers, up.content.iter_any())
                if self.record is not None and ex.error_kind not in ("connection", "timeout", "client"):
                    record_exchange(self.record, ex, self._scrub, self.placeholders, self.hash_substitutions)
                return response
        except AgentGone:
            ex.fail("client", "the agent closed the connection before the response ended")
            return ex.response
        except asyncio.TimeoutError:
            return self._upstream_failed(request, ex, 504, "timeout", f"cab proxy: upstream {self.upstream} timed out after {self.timeout_s:g}s")
        except (aiohttp.ClientError, OSError) as exc:
            message = f"cab proxy: upstream {self.upstream} failed: {type(exc).__name__}: {exc}"
            return self._upstream_failed(request, ex, 502, "connection", message)

    def _upstream_failed(self, request: web.Request, ex: Exchange, status: int, kind: str, message: str) -> web.StreamResponse:
        ex.fail(kind, message)
        if ex.response is not None and ex.response.prepared:
            # Headers are out: the only honest signal left is a broken connection.
            if request.transport is not None:
                request.transport.close()
            return ex.response
        ex.status = status
        return _json_error(status, message, kind, ex.protocol)


__all__ = ["BackgroundServer", "EndpointError", "INFRA_ERROR_KINDS", "ProxyLimits", "RecordingProxy", "classify_status"]
