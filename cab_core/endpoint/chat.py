"""OpenAI Chat Completions (``POST /v1/chat/completions``), the protocol most agents speak.

A streamed request gets ``stream_options.include_usage`` added upstream so the call's
tokens come from the upstream's own count; the extra usage-only chunk is then taken
out of what the agent receives, so agents that do not expect it do not break.  A
``stream`` value that a lenient server would read as true (``1``, ``"true"``) is sent
as ``true``, so no spelling streams past the usage request.
"""

from __future__ import annotations

import json
from typing import Any

from ..tokens import message_text
from .protocol import Reading, WireProtocol, register_protocol, text_of

#: Strings a lenient (pydantic "lax") server reads as true.
_TRUTHY = frozenset({"1", "true", "yes", "on", "t", "y"})


def streams(value: Any) -> bool:
    """Whether a ``stream`` value asks for a stream on a strict or a lenient server."""
    if value is True:
        return True
    if type(value) in (int, float):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in _TRUTHY


class ChatCompletions(WireProtocol):
    name = "chat.completions"
    paths = ("/chat/completions",)
    #: Where a choice keeps its message: ``delta`` when streamed, ``message`` whole.
    whole_key = "message"

    def prepare(self, body: dict) -> bool:
        if not streams(body.get("stream")):
            return False
        body["stream"] = True
        options = body.get("stream_options")
        options = dict(options) if isinstance(options, dict) else {}
        if options.get("include_usage") is True:
            return False
        options["include_usage"] = True
        body["stream_options"] = options
        return True

    def messages(self, body: dict) -> tuple:
        messages = body.get("messages")
        return tuple(messages) if isinstance(messages, list) else ()

    def prompt_texts(self, body: dict) -> tuple[list[str], int]:
        messages = [m for m in self.messages(body) if isinstance(m, dict)]
        texts = [message_text(m) for m in messages]
        if body.get("tools"):
            texts.append(text_of(body["tools"]))
        return texts, len(messages)

    def probe_body(self, model: str) -> dict:
        return {"model": model, "messages": [{"role": "user", "content": "Reply with the single word OK."}],
                "stream": False}

    def probe_ok(self, obj: Any) -> bool:
        return isinstance(obj, dict) and isinstance(obj.get("choices"), list) and not obj.get("error")

    def is_usage_only(self, data: bytes) -> bool:
        if b'"usage"' not in data or b'"usage":null' in data or b'"usage": null' in data:
            return False
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError):
            return False
        return isinstance(obj, dict) and not obj.get("choices") and isinstance(obj.get("usage"), dict)

    def read_event(self, reading: Reading, obj: Any, arrived: float) -> None:
        if not isinstance(obj, dict):
            reading.fail("bad_response", f"stream event is not a JSON object: {text_of(obj)[:200]}")
            return
        if obj.get("error"):
            reading.fail("server", text_of(obj["error"]))
            return
        if isinstance(obj.get("usage"), dict):
            reading.usage = obj["usage"]
        for choice in obj.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self.read_choice(reading, choice, choice.get("delta"), arrived)
            elif isinstance(choice, dict):
                other_choice(reading, choice, choice.get("delta"))

    def read_body(self, reading: Reading, obj: Any) -> None:
        if not isinstance(obj, dict) or not isinstance(obj.get("choices"), list):
            if isinstance(obj, dict) and obj.get("error"):
                reading.fail("server", text_of(obj["error"]))
            else:
                reading.fail("bad_response", f"not a {self.name} response: {text_of(obj)[:400]}")
            return
        if isinstance(obj.get("usage"), dict):
            reading.usage = obj["usage"]
        for choice in obj["choices"]:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self.read_choice(reading, choice, choice.get(self.whole_key), None)
            elif isinstance(choice, dict):
                other_choice(reading, choice, choice.get(self.whole_key))

    def read_choice(self, reading: Reading, choice: dict, message: Any, arrived: Any) -> None:
        """One choice: its message (or streamed delta) and finish reason."""
        message = message if isinstance(message, dict) else {}
        content = message.get("content")
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
        if isinstance(content, str):
            reading.text(content, arrived)
        for position, call in enumerate(message.get("tool_calls") or ()):
            if isinstance(call, dict):
                function = call.get("function") if isinstance(call.get("function"), dict) else {}
                arguments = function.get("arguments")
                reading.tool(call.get("index", position), call.get("id"), function.get("name"),
                             arguments if isinstance(arguments, str) else None, arrived)
        if choice.get("finish_reason"):
            reading.finish_reason = str(choice["finish_reason"])


def other_choice(reading: Reading, choice: dict, message: Any) -> None:
    """A choice beyond the first (``n`` > 1): not recorded, but its text is counted (an estimate must
    not leave out what the upstream generated and billed)."""
    parts = [choice.get("text"), *(message.get(k) for k in ("content", "reasoning_content") if isinstance(message, dict))]
    if isinstance(message, dict):
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                parts += [function.get("name"), function.get("arguments")]
    reading.dropped_chars += sum(len(p) if isinstance(p, str) else len(text_of(p)) for p in parts if p)


register_protocol(ChatCompletions())
