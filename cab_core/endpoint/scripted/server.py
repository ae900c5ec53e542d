"""The scripted model server: offline answers in every wire protocol the proxy records.

Routes, for the default context at ``/v1`` and each registered task at
``/t/<token>/v1`` (and the same below ``/v1beta``, where Gemini's clients go):
``POST chat/completions``, ``POST responses``, ``POST messages`` and
``POST models/{model}:generateContent`` / ``:streamGenerateContent`` (``?alt=sse``
streams events, without it a JSON array); ``GET models`` lists the behaviours.
Each request is read through the protocol's own reader, answered by
:func:`~.planning.plan_reply`, and written by the protocol's :mod:`.render` dialect.

A route registered with a ``model`` (the runner registers each cell with its own)
answers as that model whatever the request names: an agent cannot pick a fault, or
the oracle, by writing another model name into its request.  Faults (see
:data:`~.planning.FAULTS`) are behaviours too, or queued with ``faults=[...]`` /
:meth:`ScriptedModelServer.inject_faults`; each answers in the protocol's own error
or stream shape.  Every answer carries an honest usage estimated by
:mod:`cab_core.tokens`, in the protocol's own usage fields.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import deque
from typing import Iterable, Optional

from ...aioserver import BackgroundServer, asyncio, web  # imported when a client first connects (issue 16)
from ..gemini import ROUTE as GEMINI_ROUTE
from .planning import BEHAVIOURS, FAULTS, MODEL_PREFIX, Reply, ScriptContext, behaviour_of, plan_reply, usage_for
from .render import DIALECTS, Dialect

__all__ = ["ScriptedModelServer"]


class ScriptedModelServer(BackgroundServer):
    """The scripted model server (see the module docstring).

    ``chunk_delay_s`` sleeps between streamed chunks (so tests can see a stream arrive
    piece by piece); ``chunk_chars`` is the size of the pieces text and tool arguments
    are cut into; ``faults`` queues faults for the next model requests; ``port`` 0 (the
    default) binds any free port on 127.0.0.1.
    """

    _thread_name = "cab-modelserver"

    def __init__(self, default: Optional[ScriptContext] = None, *, chunk_delay_s: float = 0.0, chunk_chars: int = 20,
                 faults: Iterable[str] = (), port: int = 0):
        super().__init__(port=port)
        self.chunk_delay_s = float(chunk_delay_s)
        self.chunk_chars = max(1, int(chunk_chars))
        self._lock = threading.Lock()
        self._default = default or ScriptContext()
        self._contexts: dict[str, tuple[ScriptContext, Optional[str]]] = {}
        self._faults: deque[str] = deque()
        self.inject_faults(*faults)
        #: The last requests received, as ``(route, body)``; a window for tests to inspect.
        self.received: deque = deque(maxlen=1000)
        self._closing: Optional[asyncio.Event] = None

    # ---------------------------------------------------------------- public API

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, served from the default context."""
        return f"{self.url}/v1"

    def set_default(self, ctx: ScriptContext) -> None:
        """Answer ``/v1`` from ``ctx``."""
        with self._lock:
            self._default = ctx

    def register(self, ctx: ScriptContext, model: Optional[str] = None) -> str:
        """Route a new base URL to ``ctx`` and return it: ``http://127.0.0.1:PORT/t/<token>/v1``.

        With ``model``, the route answers as that model (its behaviour or fault) to every
        request, whatever model the request names.
        """
        token = secrets.token_hex(8)
        with self._lock:
            self._contexts[token] = (ctx, model)
        return f"{self.url}/t/{token}/v1"

    def unregister(self, token_or_url: str) -> None:
        """Forget a route made by :meth:`register` (by token or by the URL it returned)."""
        match = re.search(r"/t/([^/]+)", token_or_url)
        token = match.group(1) if match else token_or_url
        with self._lock:
            self._contexts.pop(token, None)

    def inject_faults(self, *faults: str) -> None:
        """Queue faults (names from :data:`FAULTS`): each answers the next model request instead of its model."""
        for fault in faults:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r} (available: {', '.join(FAULTS)})")
        with self._lock:
            self._faults.extend(faults)

    @staticmethod
    def models() -> list[str]:
        """Every model id the server answers to (as listed by ``GET /v1/models``)."""
        return [MODEL_PREFIX + b for b in BEHAVIOURS + FAULTS]

    # ---------------------------------------------------------------- server side

    async def _build_app(self) -> web.Application:
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=256 * 1024 * 1024)
        for prefix in ("/v1", "/t/{token}/v1", "/v1beta", "/t/{token}/v1beta"):
            app.router.add_get(prefix + "/models", self._list_models)
            for path, name in (("/chat/completions", "chat.completions"), ("/responses", "responses"),
                               ("/messages", "anthropic.messages")):
                app.router.add_post(prefix + path, self._handler(DIALECTS[name]))
            app.router.add_post(prefix + "/models/{target:.+}", self._handler(DIALECTS["gemini.generate_content"]))
        return app

    async def _before_cleanup(self) -> None:
        if self._closing is not None:
            self._closing.set()

    def _route(self, request: web.Request) -> Optional[tuple[ScriptContext, Optional[str]]]:
        """The context a request is answered from and the model its route was registered with."""
        token = request.match_info.get("token")
        with self._lock:
            return (self._default, None) if token is None else self._contexts.get(token)

    async def _list_models(self, request: web.Request) -> web.Response:
        if self._route(request) is None:
            return _error(DIALECTS["chat.completions"], 404, f"unknown task route {request.match_info.get('token')!r}",
                          "invalid_request_error")
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "cab"} for m in self.models()]
        return web.json_response({"object": "list", "data": data})

    def _handler(self, dialect: Dialect):
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._answer(request, dialect)
        return handle

    async def _answer(self, request: web.Request, dialect: Dialect) -> web.StreamResponse:
        route = self._route(request)
        if route is None:
            return _error(dialect, 404, f"unknown task route {request.match_info.get('token')!r}", "invalid_request_error")
        ctx, registered = route
        try:
            body = await request.json()
        except ValueError:
            return _error(dialect, 400, "request body is not valid JSON", "invalid_request_error")
        if not isinstance(body, dict):
            return _error(dialect, 400, "request body is not a JSON object", "invalid_request_error")
        target = request.match_info.get("target")
        if target is not None:
            match = GEMINI_ROUTE.fullmatch("/models/" + target)
            if match is None:
                return _error(dialect, 404, f"no such method: {target}", "invalid_request_error")
            body = dialect.protocol.annotate(body, "/models/" + target, request.query_string)
        problem = dialect.invalid(body)
        if problem is not None:
            return _error(dialect, 400, problem, "invalid_request_error")
        self.received.append((request.match_info.get("token"), body))
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        behaviour = fault or behaviour_of(registered or body["model"])
        stream = body.get("stream") is True
        sse = stream and (target is None or request.query.get("alt") == "sse")
        if behaviour in FAULTS:
            return await self._fault(request, dialect, behaviour, body, sse)
        if behaviour not in BEHAVIOURS:
            message = f"The model {body['model']!r} does not exist (available: {', '.join(self.models())})"
            return _error(dialect, 404, message, "invalid_request_error", code="model_not_found")
        protocol = dialect.protocol
        chat_view = {"messages": list(protocol.messages(body)), "tools": protocol.tools(body)}
        reply = plan_reply(behaviour, ctx, chat_view)
        counted = usage_for(chat_view, reply)
        usage = (counted["prompt_tokens"], counted["completion_tokens"])
        if not sse:
            return web.json_response(dialect.whole(reply, usage, body["model"], body))
        events = dialect.events(reply, usage, body["model"], body, self.chunk_chars)
        return await self._stream(request, events + ([dialect.trailer] if dialect.trailer else []))

    async def _stream(self, request: web.Request, chunks: list[bytes], cut: bool = False) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            for i, chunk in enumerate(chunks):
                if i and self.chunk_delay_s:
                    await asyncio.sleep(self.chunk_delay_s)
                await response.write(chunk)
            if cut:
                if request.transport is not None:
                    request.transport.close()
                return response
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up; nobody is left to tell
        return response

    async def _fault(self, request: web.Request, dialect: Dialect, fault: str, body: dict, sse: bool) -> web.StreamResponse:
        if fault == "fail500":
            return _error(dialect, 500, "scripted server error (fault 'fail500')", "server_error")
        if fault == "ratelimit":
            return _error(dialect, 429, "Rate limit reached (scripted fault 'ratelimit'): retry after 1s", "requests",
                          code="rate_limit_exceeded", headers={"Retry-After": "1"})
        if fault == "garbage":
            if sse:
                return await self._stream(request, [dialect.garbage_event()] + ([dialect.trailer] if dialect.trailer else []))
            return web.Response(status=200, body=b"<html>this is not JSON {", content_type="application/json")
        if fault == "hang":
            assert self._closing is not None
            await self._closing.wait()
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=503)
        # drop: send a little, then cut the connection.
        if sse:
            reply = Reply(content="This answer will be cut off before it ends.")
            events = dialect.events(reply, (1, 1), str(body.get("model") or ""), body, self.chunk_chars)
            return await self._stream(request, events[:2], cut=True)
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)


def _error(dialect: Dialect, status: int, message: str, kind: str, *, code: Optional[str] = None, headers=None):
    return web.json_response(dialect.error(status, message, kind, code), status=status, headers=headers)
