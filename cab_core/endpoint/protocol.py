"""Wire protocols: how the recording proxy reads one kind of model call, registered by route.

Each protocol the proxy records (Chat Completions, legacy Completions, and later the
Responses API or Anthropic Messages) is one small :class:`WireProtocol` object in its
own module, registered for the paths it serves with :func:`register_protocol`.  The
proxy itself knows no protocol: it finds the one for a ``POST /v1/<path>`` with
:func:`protocol_for`, lets it adjust the request (ask for usage), read the response
events or body into a :class:`Reading`, and say what a health probe looks like.
Adding a protocol is a new module that subclasses :class:`WireProtocol` and calls
:func:`register_protocol`, plus its name in :data:`cab_core.endpoint.BUILTIN_PROTOCOLS`.

Requests are always parsed JSON, never matched as bytes, so every spelling of a key
(``"\\u0073tream"``) means what the upstream will take it to mean.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Optional

__all__ = ["MAX_CALL_TOKENS", "Reading", "UsageError", "count", "WireProtocol", "protocol_for", "protocol_named", "protocols", "register_protocol", "unregister_protocol"]


class Reading:
    """What a protocol learned from one response: text, tool calls, finish reason, usage, error.

    Text beyond ``text_cap`` characters is counted, not kept (a flood cannot grow memory).
    """

    def __init__(self, text_cap: int = 1 << 22):
        self.text_cap = text_cap
        self.parts: list[str] = []
        self.kept_chars = 0
        self.dropped_chars = 0
        self.tools: dict[Any, list] = {}
        self.finish_reason: Optional[str] = None
        self.usage: Optional[dict] = None
        self.first_token_at: Optional[float] = None
        self.error: Optional[tuple[str, str]] = None
        #: Protocol-specific state kept between stream events (a stop reason not yet final, say).
        self.notes: dict = {}

    def fail(self, kind: str, message: str) -> None:
        """Note what went wrong (the first problem is kept)."""
        if self.error is None:
            self.error = (kind, message)

    def token(self, arrived: Optional[float]) -> None:
        if arrived is not None and self.first_token_at is None:
            self.first_token_at = arrived

    def text(self, piece: str, arrived: Optional[float] = None) -> None:
        """Add completion text (``arrived``: when a streamed piece came in)."""
        if not piece:
            return
        self.token(arrived)
        room = self.text_cap - self.kept_chars
        if room > 0:
            self.parts.append(piece[:room])
            self.kept_chars += min(room, len(piece))
        self.dropped_chars += max(0, len(piece) - max(room, 0))

    def tool(self, key: Any, call_id: Optional[str], name: Optional[str], arguments: Optional[str],
             arrived: Optional[float] = None) -> None:
        """Add (a piece of) one tool call, keyed by its position in the reply."""
        self.token(arrived)
        slot = self.tools.setdefault(key, ["", "", []])
        if call_id and not slot[0]:
            slot[0] = call_id
        if name and name != slot[1]:
            slot[1] += name
        if arguments:
            room = self.text_cap - self.kept_chars
            if room > 0:
                slot[2].append(arguments[:room])
                self.kept_chars += min(room, len(arguments))
            self.dropped_chars += max(0, len(arguments) - max(room, 0))

    @property
    def completion(self) -> str:
        return "".join(self.parts)

    def tool_calls(self) -> list[tuple[str, str, str]]:
        """``(id, name, arguments)`` of each tool call, in order."""
        ordered = sorted(self.tools.items(), key=lambda kv: kv[0] if isinstance(kv[0], int) else 0)
        return [(slot[0], slot[1], "".join(slot[2])) for _, slot in ordered]

    def output_texts(self) -> list[str]:
        """Everything generated, for a token estimate."""
        return [self.completion] + [name + args for _, name, args in self.tool_calls()]


class WireProtocol:
    """One wire protocol the proxy records (subclass it; see the module docstring).

    ``name`` goes into each :class:`~cab_core.models.ModelCall`; ``paths`` are the
    routes below ``/v1`` it serves (``POST`` only); ``path_pattern`` matches routes
    that carry a variable part (Gemini's ``/models/{model}:generateContent``).
    ``key_header`` is where the upstream wants the real key (``Authorization`` gets
    ``Bearer <key>``; any other header the key alone).
    """

    name = ""
    paths: tuple[str, ...] = ()
    path_pattern: Optional["re.Pattern[str]"] = None
    key_header = "Authorization"

    def auth_headers(self, api_key: str) -> dict:
        """The header carrying the real key upstream, in this protocol's spelling."""
        if self.key_header.lower() == "authorization":
            return {"Authorization": f"Bearer {api_key}"}
        return {self.key_header: api_key}

    def annotate(self, body: dict, path: str, query: str) -> dict:
        """The request as recorded and hashed: ``body`` plus what the route says (Gemini's model)."""
        return body

    def upstream_query(self, query: str) -> str:
        """The query string sent upstream (a protocol drops a key the agent put there)."""
        return query

    def probe_path(self, model: str) -> str:
        """The path (below the upstream base) a health probe of ``model`` posts to."""
        return self.paths[0]

    def tools(self, body: dict) -> list:
        """The request's tool declarations as Chat Completions ``{"type": "function", "function": ...}``."""
        tools = body.get("tools")
        return list(tools) if isinstance(tools, list) else []

    # ---------------------------------------------------------------- the request

    def prepare(self, body: dict) -> bool:
        """Adjust ``body`` (a copy of the agent's request) for the upstream; return whether
        to strip usage-only stream events the agent did not ask for."""
        return False

    def model(self, body: dict) -> str:
        return str(body.get("model") or "")

    def is_stream(self, body: dict) -> bool:
        return body.get("stream") is True

    def messages(self, body: dict) -> tuple:
        """The conversation as chat-style messages, for the record and the report."""
        return ()

    def prompt_texts(self, body: dict) -> tuple[list[str], int]:
        """The request's text and how many messages it has, for a token estimate."""
        return [json.dumps(body, ensure_ascii=False)], 0

    def error_body(self, status: int, message: str, kind: str) -> dict:
        """An error the agent's client understands, in this protocol's shape."""
        return {"error": {"message": message, "type": kind, "code": status}}

    def probe_body(self, model: str) -> dict:
        """The smallest request that shows the endpoint can answer ``model`` (a health probe)."""
        raise NotImplementedError

    def probe_ok(self, obj: Any) -> bool:
        """Whether a probe's parsed response body is a real answer."""
        return isinstance(obj, dict) and not obj.get("error")

    # ---------------------------------------------------------------- the response

    def is_usage_only(self, data: bytes) -> bool:
        """Whether a stream event (its data, raw) carries only usage (stripped when the agent did not ask)."""
        return False

    def read_event(self, reading: Reading, obj: Any, arrived: float) -> None:
        """Take in one parsed stream event."""

    def read_body(self, reading: Reading, obj: Any) -> None:
        """Take in a whole parsed (non-streamed, successful) response body."""

    def stream_complete(self, reading: Reading, saw_done: bool) -> bool:
        """Whether a stream that ended cleanly said all it should (else it was cut)."""
        return saw_done or reading.finish_reason is not None

    def usage(self, usage: dict) -> tuple[int, int, int]:
        """``(prompt, completion, total)`` from the protocol's usage block.

        Read each field with :func:`count`: a value that is not a believable count raises
        :class:`UsageError`, and the proxy then estimates the call instead (never a silent 0).
        """
        prompt = count(usage, "prompt_tokens" if "prompt_tokens" in usage else "input_tokens")
        completion = count(usage, "completion_tokens" if "completion_tokens" in usage else "output_tokens")
        return prompt, completion, count(usage, "total_tokens") or prompt + completion


#: No single call reads or writes more tokens than this: a larger count is not believed.
MAX_CALL_TOKENS = 100_000_000


class UsageError(ValueError):
    """A usage field that is not a believable token count (the message names the field and its value)."""


def count(usage: Any, key: str) -> int:
    """``usage[key]`` as a token count: absent or null is 0; anything but a whole number from 0 to
    :data:`MAX_CALL_TOKENS` (a string, a bool, a negative, a fraction, NaN, infinity) raises :class:`UsageError`."""
    value = usage.get(key) if isinstance(usage, dict) else None
    if value is None:
        return 0
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and isinstance(value, float):
        ok = math.isfinite(value) and value.is_integer()
    if not ok or value < 0 or value > MAX_CALL_TOKENS:
        raise UsageError(f"usage field {key} is {str(value)[:40]!r}, not a token count from 0 to {MAX_CALL_TOKENS:,}")
    return int(value)


def text_of(value: Any) -> str:
    """A JSON value as one string (an error object, say)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


_PROTOCOLS: dict[str, WireProtocol] = {}
_PATTERNED: list[WireProtocol] = []


def register_protocol(protocol: WireProtocol) -> WireProtocol:
    """Serve ``protocol`` at its paths; a path claimed twice is an error naming both."""
    for path in protocol.paths:
        other = _PROTOCOLS.get(path)
        if other is not None and other is not protocol:
            raise ValueError(f"path /v1{path} is claimed by protocols {other.name!r} and {protocol.name!r}")
    for path in protocol.paths:
        _PROTOCOLS[path] = protocol
    if protocol.path_pattern is not None and protocol not in _PATTERNED:
        _PATTERNED.append(protocol)
    return protocol


def unregister_protocol(protocol: WireProtocol) -> None:
    """Stop serving ``protocol`` (for tests and plugins that registered one for a while)."""
    for path in [p for p, registered in _PROTOCOLS.items() if registered is protocol]:
        del _PROTOCOLS[path]
    if protocol in _PATTERNED:
        _PATTERNED.remove(protocol)


def protocol_for(method: str, path: str) -> Optional[WireProtocol]:
    """The protocol recording ``method path`` (path below ``/v1``), or ``None``."""
    if method != "POST":
        return None
    found = _PROTOCOLS.get(path)
    if found is None:
        found = next((p for p in _PATTERNED if p.path_pattern is not None and p.path_pattern.fullmatch(path)), None)
    return found


def protocol_named(name: str) -> Optional[WireProtocol]:
    """The registered protocol called ``name`` (as recorded in ``ModelCall.protocol``), or ``None``."""
    return next((p for p in [*_PROTOCOLS.values(), *_PATTERNED] if p.name == name), None)


def protocols() -> dict[str, WireProtocol]:
    """Every registered protocol by path (a patterned one by its pattern)."""
    return {**_PROTOCOLS, **{p.path_pattern.pattern: p for p in _PATTERNED if p.path_pattern is not None}}
