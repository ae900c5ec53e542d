"""Anthropic Messages (``POST /v1/messages``), the protocol Claude Code speaks.

The system prompt is ``system`` (a string or text blocks); each message's content is
a string or blocks: ``text``, ``tool_use`` (a call the model made: ``id``, ``name``,
``input``) and ``tool_result`` (the agent's answer, in a user message).  The stream is
``message_start`` (whose ``message.usage.input_tokens`` is the prompt count),
``content_block_start``/``content_block_delta`` (``text_delta``, ``input_json_delta``)
/``content_block_stop``, ``message_delta`` (``stop_reason``, ``usage.output_tokens``)
and ``message_stop``; a stream without ``message_stop`` was cut.  The key travels in
``x-api-key``; errors are ``{"type": "error", "error": {"type", "message"}}``.
Cached prompt tokens (``cache_read_input_tokens``, ``cache_creation_input_tokens``)
are prompt tokens too: Anthropic's ``input_tokens`` leaves them out.
"""

from __future__ import annotations

import json
from typing import Any

from ..tokens import message_text
from .chat import streams
from .protocol import Reading, WireProtocol, count, register_protocol, text_of

#: HTTP status -> Anthropic's error type.
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 529: "overloaded_error"}


def _blocks_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def chat_messages(body: dict) -> list[dict]:
    """A Messages request as Chat Completions messages (``tool_use`` -> ``tool_calls``, ``tool_result`` -> ``tool``)."""
    out: list[dict] = []
    system = _blocks_text(body.get("system"))
    if system:
        out.append({"role": "system", "content": system})
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        role = str(message.get("role") or "user")
        content = message.get("content")
        if not isinstance(content, list):
            out.append({"role": role, "content": _blocks_text(content)})
            continue
        texts, calls = [], []
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                calls.append({"id": str(block.get("id") or ""), "type": "function",
                              "function": {"name": str(block.get("name") or ""),
                                           "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False)}})
            elif block.get("type") == "tool_result":
                out.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id") or ""),
                            "content": _blocks_text(block.get("content"))})
            elif isinstance(block.get("text"), str):
                texts.append(block["text"])
        if texts or calls:
            entry: dict = {"role": role, "content": "".join(texts) or None}
            if calls:
                entry["tool_calls"] = calls
            out.append(entry)
    return out


class Messages(WireProtocol):
    name = "anthropic.messages"
    paths = ("/messages",)
    key_header = "x-api-key"

    def prepare(self, body: dict) -> bool:
        if streams(body.get("stream")):
            body["stream"] = True  # a lenient server streams on "true" too: say what it will do
        return False

    def messages(self, body: dict) -> tuple:
        return tuple(chat_messages(body))

    def tools(self, body: dict) -> list:
        return [{"type": "function", "function": {"name": t["name"], "description": t.get("description") or "",
                                                  "parameters": t.get("input_schema") or {}}}
                for t in body.get("tools") or () if isinstance(t, dict) and t.get("name")]

    def prompt_texts(self, body: dict) -> tuple[list[str], int]:
        messages = chat_messages(body)
        texts = [message_text(m) for m in messages]
        if body.get("tools"):
            texts.append(text_of(body["tools"]))
        return texts, len(messages)

    def error_body(self, status: int, message: str, kind: str) -> dict:
        kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def probe_body(self, model: str) -> dict:
        return {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "Say OK."}]}

    def probe_ok(self, obj: Any) -> bool:
        return isinstance(obj, dict) and obj.get("type") == "message"

    def read_event(self, reading: Reading, obj: Any, arrived: float) -> None:
        if not isinstance(obj, dict):
            reading.fail("bad_response", f"stream event is not a JSON object: {text_of(obj)[:200]}")
            return
        kind = obj.get("type")
        if kind == "message_start" and isinstance(obj.get("message"), dict):
            self._usage(reading, obj["message"].get("usage"))
        elif kind == "content_block_start" and isinstance(obj.get("content_block"), dict):
            block = obj["content_block"]
            if block.get("type") == "tool_use":
                reading.tool(obj.get("index", 0), block.get("id"), block.get("name"), None, arrived)
                if block.get("input"):  # a whole input up front (no deltas follow)
                    reading.tool(obj.get("index", 0), None, None, json.dumps(block["input"]), arrived)
            elif isinstance(block.get("text"), str):
                reading.text(block["text"], arrived)
        elif kind == "content_block_delta" and isinstance(obj.get("delta"), dict):
            delta = obj["delta"]
            if delta.get("type") == "text_delta":
                reading.text(delta.get("text") if isinstance(delta.get("text"), str) else "", arrived)
            elif delta.get("type") == "input_json_delta" and isinstance(delta.get("partial_json"), str):
                reading.tool(obj.get("index", 0), None, None, delta["partial_json"], arrived)
        elif kind == "message_delta":
            self._usage(reading, obj.get("usage"))
            if isinstance(obj.get("delta"), dict) and obj["delta"].get("stop_reason"):
                reading.notes["stop_reason"] = str(obj["delta"]["stop_reason"])
        elif kind == "message_stop":
            reading.finish_reason = reading.notes.get("stop_reason") or "end_turn"
        elif kind == "error":
            reading.fail("server", text_of(obj.get("error") or obj))

    @staticmethod
    def _usage(reading: Reading, usage: Any) -> None:
        if isinstance(usage, dict):
            reading.usage = {**(reading.usage or {}), **{k: v for k, v in usage.items() if v is not None}}

    def read_body(self, reading: Reading, obj: Any) -> None:
        if not isinstance(obj, dict) or obj.get("type") != "message" or not isinstance(obj.get("content"), list):
            if isinstance(obj, dict) and obj.get("type") == "error":
                reading.fail("server", text_of(obj.get("error")))
            else:
                reading.fail("bad_response", f"not a {self.name} response: {text_of(obj)[:400]}")
            return
        for index, block in enumerate(obj["content"]):
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                reading.tool(index, block.get("id"), block.get("name"), json.dumps(block.get("input") or {}))
            elif isinstance(block.get("text"), str):
                reading.text(block["text"])
        self._usage(reading, obj.get("usage"))
        reading.finish_reason = str(obj.get("stop_reason") or "end_turn")

    def stream_complete(self, reading: Reading, saw_done: bool) -> bool:
        return reading.finish_reason is not None

    def usage(self, usage: dict) -> tuple[int, int, int]:
        prompt = sum(count(usage, k) for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))
        completion = count(usage, "output_tokens")
        return prompt, completion, prompt + completion


register_protocol(Messages())
