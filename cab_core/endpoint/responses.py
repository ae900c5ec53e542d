"""OpenAI Responses (``POST /v1/responses``), the protocol Codex CLI speaks.

A request's ``input`` is a string or a list of items: messages (``role`` with text
content parts), ``function_call`` items the model made and the ``function_call_output``
items that answer them; ``instructions`` is the system prompt.  The stream is typed
events (``response.created``, ``response.output_item.added``,
``response.output_text.delta``, ``response.function_call_arguments.delta`` ...,
``response.completed``), with no ``[DONE]``: a stream is whole when it reached
``response.completed`` (or ``response.incomplete``/``failed``), whose ``response.usage``
(``input_tokens``, ``output_tokens``, ``total_tokens``) is the call's token count.
"""

from __future__ import annotations

from typing import Any

from ..tokens import message_text
from .chat import streams
from .protocol import Reading, WireProtocol, register_protocol, text_of

_TEXT_PARTS = ("input_text", "output_text", "text", "refusal")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") in _TEXT_PARTS
                       and isinstance(p.get("text"), str))
    return ""


def chat_messages(body: dict) -> list[dict]:
    """A Responses request as Chat Completions messages (tool calls and their outputs included)."""
    messages: list[dict] = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if isinstance(items, str):
        return messages + [{"role": "user", "content": items}]
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message" or (kind is None and "role" in item):
            messages.append({"role": str(item.get("role") or "user"), "content": _content_text(item.get("content"))})
        elif kind in ("function_call", "custom_tool_call"):
            arguments = item.get("arguments") if kind == "function_call" else item.get("input")
            call = {"id": str(item.get("call_id") or item.get("id") or ""), "type": "function",
                    "function": {"name": str(item.get("name") or ""), "arguments": text_of(arguments or "")}}
            if messages and messages[-1]["role"] == "assistant" and "tool_calls" in messages[-1]:
                messages[-1]["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            messages.append({"role": "tool", "tool_call_id": str(item.get("call_id") or ""),
                             "content": _content_text(item.get("output")) if isinstance(item.get("output"), list)
                             else text_of(item.get("output") or "")})
    return messages


class Responses(WireProtocol):
    name = "responses"
    paths = ("/responses",)

    def prepare(self, body: dict) -> bool:
        if streams(body.get("stream")):
            body["stream"] = True  # a lenient server streams on "true" too: say what it will do
        return False

    def messages(self, body: dict) -> tuple:
        return tuple(chat_messages(body))

    def tools(self, body: dict) -> list:
        tools = []
        for tool in body.get("tools") or ():
            if isinstance(tool, dict) and tool.get("type") == "function" and tool.get("name"):
                function = {"name": tool["name"], "description": tool.get("description") or "",
                            "parameters": tool.get("parameters") or {}}
                tools.append({"type": "function", "function": function})
            elif isinstance(tool, dict) and tool.get("type") == "custom" and tool.get("name"):
                # A freeform tool (Codex's apply_patch): its input is raw text.
                tools.append({"type": "custom", "custom": {"name": tool["name"], "description": tool.get("description") or ""}})
        return tools

    def prompt_texts(self, body: dict) -> tuple[list[str], int]:
        messages = chat_messages(body)
        texts = [message_text(m) for m in messages]
        if body.get("tools"):
            texts.append(text_of(body["tools"]))
        return texts, len(messages)

    def probe_body(self, model: str) -> dict:
        return {"model": model, "input": "Reply with the single word OK.", "stream": False}

    def probe_ok(self, obj: Any) -> bool:
        return isinstance(obj, dict) and isinstance(obj.get("output"), list) and not obj.get("error")

    def read_event(self, reading: Reading, obj: Any, arrived: float) -> None:
        if not isinstance(obj, dict):
            reading.fail("bad_response", f"stream event is not a JSON object: {text_of(obj)[:200]}")
            return
        kind = obj.get("type")
        if kind == "response.output_text.delta":
            reading.text(obj.get("delta") if isinstance(obj.get("delta"), str) else "", arrived)
        elif kind == "response.output_item.added" and isinstance(obj.get("item"), dict):
            self._item(reading, obj.get("output_index", 0), obj["item"], arrived)
        elif kind == "response.output_item.done" and isinstance(obj.get("item"), dict):
            item = obj["item"]
            slot = reading.tools.get(obj.get("output_index", 0))
            if item.get("type") in ("function_call", "custom_tool_call") and slot is not None and not slot[2]:
                self._item(reading, obj.get("output_index", 0), item, arrived)  # arguments sent whole at the end
        elif kind in ("response.function_call_arguments.delta", "response.custom_tool_call_input.delta"):
            delta = obj.get("delta")
            reading.tool(obj.get("output_index", 0), None, None, delta if isinstance(delta, str) else None, arrived)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self._finish(reading, obj.get("response"))
        elif kind == "error" or (kind or "").endswith(".error"):
            reading.fail("server", text_of(obj.get("error") or obj.get("message") or obj))

    def _item(self, reading: Reading, index: Any, item: dict, arrived: Any) -> None:
        if item.get("type") == "function_call":
            args = item.get("arguments")
            reading.tool(index, item.get("call_id"), item.get("name"), args if isinstance(args, str) else None, arrived)
        elif item.get("type") == "custom_tool_call":
            args = item.get("input")
            reading.tool(index, item.get("call_id"), item.get("name"), args if isinstance(args, str) else None, arrived)

    def _finish(self, reading: Reading, response: Any) -> None:
        if not isinstance(response, dict):
            return
        if isinstance(response.get("usage"), dict):
            reading.usage = response["usage"]
        reading.finish_reason = str(response.get("status") or "completed")
        if response.get("status") == "failed":
            reading.fail("server", text_of(response.get("error") or "response failed"))

    def read_body(self, reading: Reading, obj: Any) -> None:
        if not isinstance(obj, dict) or not isinstance(obj.get("output"), list):
            if isinstance(obj, dict) and obj.get("error"):
                reading.fail("server", text_of(obj["error"]))
            else:
                reading.fail("bad_response", f"not a {self.name} response: {text_of(obj)[:400]}")
            return
        for index, item in enumerate(obj["output"]):
            if isinstance(item, dict) and item.get("type") == "message":
                reading.text(_content_text(item.get("content")))
            elif isinstance(item, dict):
                self._item(reading, index, item, None)
        self._finish(reading, obj)

    def stream_complete(self, reading: Reading, saw_done: bool) -> bool:
        return reading.finish_reason is not None


register_protocol(Responses())
