"""One model call as the proxy relays it, and the :class:`~cab_core.models.ModelCall` it becomes.

Work the agent need not wait for (parsing a non-streamed body, most stream events,
hashing, counting tokens) is left until the record is read: :meth:`Exchange.model_call`
does it once, after :meth:`Exchange.close` has frozen the exchange.  Stream events
waiting to be parsed are parsed early once they hold more than
:data:`PENDING_EVENT_BYTES`, so a long stream never piles up in memory.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Callable, Optional

from ..cassette import request_hash
from ..models import ModelCall, ToolCall, utcnow
from ..pricing import cached_input_tokens
from ..tokens import count_prompt_tokens, count_tokens
from .limits import BodyCapture
from .protocol import Reading, WireProtocol
from .sse import SSESplitter, event_data, is_sse

ERROR_TEXT_LIMIT = 500
#: Reported completion tokens this many times fewer than the tokenizer counts in the answer (less
#: the margin) are not believed: tokenizers differ, but not by that much.
IMPLAUSIBLE_RATIO = 4
IMPLAUSIBLE_MARGIN = 16
#: Stream events held unparsed before the exchange parses them (bounded memory).
PENDING_EVENT_BYTES = 256 * 1024


def classify_status(status: int) -> Optional[str]:
    """The ``error_kind`` an HTTP status stands for (``None`` for success)."""
    if status < 400:
        return None
    if status == 429:
        return "rate_limit"
    if status >= 500:
        return "server"
    return "client"


class Exchange:
    """What the proxy learns about one recorded call while relaying it.

    ``request`` is the agent's parsed request when it is kept (``None`` when it was
    not JSON or too large to record: ``request_info`` then says what it was).
    """

    def __init__(self, index: int, protocol: WireProtocol, request: Any, request_info: dict,
                 capture: BodyCapture, store: Callable[["Exchange"], None], substitutions: Optional[dict] = None,
                 strip_usage: bool = False):
        self.index = index
        self.protocol = protocol
        self.request = request
        self.info = request_info  # model, stream, bytes, sha256, kept, hash
        self.capture = capture
        self._store = store
        self.substitutions = substitutions
        self.strip_usage = strip_usage
        self.t0 = time.perf_counter()
        self.timestamp = utcnow()
        self.reading = Reading(text_cap=capture.cap or (1 << 22))
        self._pending: list[tuple[float, bytes]] = []
        self._pending_bytes = 0
        self._stream_ended = False
        self._call: Optional[ModelCall] = None
        self.closed = False
        self.end: Optional[float] = None
        self.status = 200
        self.content_type = ""
        self.error: Optional[str] = None
        self.error_kind: Optional[str] = None
        self.saw_done = False
        self.response: Any = None
        #: Set when a replay found no recorded answer (why, and what differed).
        self.cassette_miss: Optional[str] = None

    @property
    def request_hash(self) -> str:
        if self.info.get("hash") is None:
            self.info["hash"] = request_hash(self.request, self.substitutions)
        return self.info["hash"]

    def fail(self, kind: str, error: str) -> None:
        """Note an error while relaying; the first is the cause. After :meth:`close` nothing is noted."""
        if not self.closed:
            self._note(kind, error)

    def _note(self, kind: str, error: str) -> None:
        if self.error_kind is None:
            self.error_kind = kind
            self.error = error[:ERROR_TEXT_LIMIT]

    # ---------------------------------------------------------------- the response

    def observe_event(self, raw: bytes, data: Optional[bytes]) -> bool:
        """Take in one SSE event (``data`` from :func:`~.sse.event_data`); return whether to forward it."""
        if self.closed or data is None:
            return True
        if data == b"[DONE]":
            self.saw_done = True
            return True
        self._pending.append((time.perf_counter(), data))
        self._pending_bytes += len(data)
        if self._pending_bytes > PENDING_EVENT_BYTES:
            self._parse_pending()
        return not (self.strip_usage and self.protocol.is_usage_only(data))

    def _parse_pending(self) -> None:
        for arrived, data in self._pending:
            try:
                obj = json.loads(data)
            except (ValueError, RecursionError):
                self.reading.fail("bad_response", "invalid JSON in stream event: " + data[:200].decode("utf-8", "replace"))
                continue
            self.protocol.read_event(self.reading, obj, arrived)
        self._pending, self._pending_bytes = [], 0

    def finish_stream(self) -> None:
        """The stream ended cleanly (checked for completeness when the record is built)."""
        self._stream_ended = True

    def close(self) -> None:
        """Store the record (once), before the agent can see the end of the response."""
        if self.closed:
            return
        if self.end is None:
            self.end = time.perf_counter()
        self.closed = True
        self._store(self)

    # ---------------------------------------------------------------- the record

    def model_call(self) -> ModelCall:
        """The record of this exchange (built once; call only after :meth:`close`)."""
        if self._call is None:
            self._parse_pending()
            if not is_sse(self.content_type) and self.error_kind is None and classify_status(self.status) is None:
                body = self.capture.kept
                if body is not None and body.lstrip()[:6] in (b"data: ", b"data:{", b"event:"):
                    self._read_stream_body(body)  # a stream sent under another content type: read as one
                elif body is not None:
                    try:
                        obj = json.loads(body)
                    except (ValueError, RecursionError):
                        self.reading.fail("bad_response", f"not a {self.protocol.name} response: "
                                          + body[:300].decode("utf-8", "replace"))
                    else:
                        self.protocol.read_body(self.reading, obj)
            if self.reading.error is not None:
                self._note(*self.reading.error)
            if self._stream_ended and not self.protocol.stream_complete(self.reading, self.saw_done):
                self._note("bad_response", "stream ended without a finish_reason or [DONE]")
            self._call = self._build()
        return self._call

    def _read_stream_body(self, body: bytes) -> None:
        splitter = SSESplitter()
        for event in [*splitter.feed(body), splitter.flush()]:
            data = event_data(event)
            if data == b"[DONE]":
                self.saw_done = True
            elif data is not None:
                self._pending.append((time.perf_counter(), data))
        self._parse_pending()
        self._stream_ended = True

    def _tokens(self) -> tuple[int, int, int, str, Optional[str]]:
        """``(prompt, completion, total, usage_source, usage_note)``.

        The upstream's usage when it is believable and final; otherwise, for every call
        the upstream took (a success status, even when the answer was cut, garbled or the
        agent hung up), an estimate with the reason in ``usage_note``: an answered call is
        never 0 tokens.  A call cut off after part of its usage arrived (Anthropic's
        ``message_start``, Gemini's running counts) takes the larger of each count.  Only
        a call the upstream refused or never got counts nothing.
        """
        reading = self.reading
        note = "the upstream sent no usage"
        reported: Optional[tuple[int, int, int]] = None
        if reading.usage is not None:
            try:
                reported = self.protocol.usage(reading.usage)
            except (ValueError, TypeError, AttributeError, OverflowError) as exc:
                note = f"the upstream's usage was not used: {exc}"
            else:
                note = self._implausible(*reported[:2]) or ""
        answered = classify_status(self.status) is None
        if reported is not None and not note and (self.error_kind is None or not answered):
            prompt, completion, total = reported
            return prompt, completion, max(total, prompt + completion), "reported", None
        if not answered:
            return 0, 0, 0, "none", None
        prompt, completion = self._estimate()
        if reported is not None:  # usage that is too low, or cut off: never less than it said
            prompt, completion = max(prompt, reported[0]), max(completion, reported[1])
            note = note or "the answer was cut off before its final usage"
        if self.error_kind is not None:
            note += f" (the call ended {self.error_kind}: counted from what arrived)"
        return prompt, completion, prompt + completion, "estimated", note

    def _estimate(self) -> tuple[int, int]:
        """Prompt and completion tokens counted with the tokenizer from what was sent and what arrived."""
        reading = self.reading
        if isinstance(self.request, dict):
            texts, messages = self.protocol.prompt_texts(self.request)
            prompt = count_prompt_tokens(texts, messages)
        else:
            prompt = max(1, math.ceil(int(self.info.get("bytes") or 0) / 4))
        completion = sum(count_tokens(t) for t in reading.output_texts()) + math.ceil(reading.dropped_chars / 4)
        if completion == 0 and reading.kept_chars == 0 and self.capture.kept is None:
            completion = math.ceil(self.capture.size / 4)  # too large to read: its size says something
        return prompt, completion

    def _implausible(self, prompt: int, completion: int) -> Optional[str]:
        """Why a well-formed usage cannot be true of this call: 0 prompt tokens for a request with
        a body, or far fewer completion tokens than the text that arrived (a quarter of the
        tokenizer's count, less a margin: no tokenizer differs by that much)."""
        if prompt == 0 and int(self.info.get("bytes") or 0) > 0:
            return "the upstream's usage says 0 prompt tokens for a non-empty request"
        reading = self.reading
        if reading.kept_chars or reading.dropped_chars or reading.tools:
            seen = sum(count_tokens(t) for t in reading.output_texts()) + math.ceil(reading.dropped_chars / 4)
            if completion * IMPLAUSIBLE_RATIO + IMPLAUSIBLE_MARGIN < seen:
                return f"the upstream's usage says {completion} completion tokens for an answer of about {seen}"
        return None

    def _build(self) -> ModelCall:
        request = self.request if isinstance(self.request, dict) else {}
        prompt, completion, total, source, note = self._tokens()
        end = self.end if self.end is not None else time.perf_counter()
        omitted = {}
        if not self.info.get("kept", True):
            omitted["request"] = {"sha256": self.info.get("sha256"), "bytes": self.info.get("bytes")}
        if self.capture.kept is None:
            omitted["response"] = self.capture.summary()
        first = self.reading.first_token_at
        return ModelCall(
            index=self.index, timestamp=self.timestamp, request_hash=self.request_hash,
            model=str(self.info.get("model") or ""), stream=bool(self.info.get("stream")),
            messages=self.protocol.messages(request) if request else (),
            completion=self.reading.completion,
            tool_calls=tuple(ToolCall(id=i, name=n, arguments=a) for i, n, a in self.reading.tool_calls()),
            finish_reason=self.reading.finish_reason,
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=total,
            latency_ms=round((end - self.t0) * 1000, 3),
            ttft_ms=None if first is None else round((first - self.t0) * 1000, 3),
            status=self.status, error=self.error, error_kind=self.error_kind,
            usage_source=source, protocol=self.protocol.name, omitted=omitted,
            cached_tokens=cached_input_tokens(self.reading.usage) if source == "reported" else None,
            usage_note=note,
        )
