"""Writing a planned :class:`~.planning.Reply` in each wire protocol the scripted server speaks.

One :class:`Dialect` per protocol: it reads the request through the recording proxy's
own :class:`~cab_core.endpoint.WireProtocol` (so planning sees what the proxy records)
and writes the whole answer, the stream events and the errors in the protocol's shape.
Streams cut text and tool arguments into ``chunk_chars`` pieces.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any, Optional

from ..protocol import WireProtocol, protocol_named
from .planning import Reply

__all__ = ["DIALECTS", "Dialect", "pieces"]


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _sse(obj: Any, event: Optional[str] = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


class Dialect:
    """How the scripted server answers in one protocol (subclass per protocol)."""

    protocol_name = ""
    #: What a stream of this protocol ends with after its last event.
    trailer = b""

    @property
    def protocol(self) -> WireProtocol:
        found = protocol_named(self.protocol_name)
        assert found is not None, self.protocol_name
        return found

    def invalid(self, body: dict) -> Optional[str]:
        """Why ``body`` is not a request of this protocol, or ``None``."""
        return None if isinstance(body.get("model"), str) else "a request needs 'model' (string)"

    def error(self, status: int, message: str, kind: str, code: Optional[str] = None) -> dict:
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def whole(self, reply: Reply, usage: tuple[int, int], model: str, body: dict) -> Any:
        raise NotImplementedError

    def events(self, reply: Reply, usage: tuple[int, int], model: str, body: dict, size: int) -> list[bytes]:
        raise NotImplementedError

    def garbage_event(self) -> bytes:
        return b"data: {this is not json\n\n"


class Chat(Dialect):
    protocol_name = "chat.completions"
    trailer = b"data: [DONE]\n\n"

    def invalid(self, body: dict) -> Optional[str]:
        if not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
            return "a chat completion needs 'model' (string) and 'messages' (list)"
        return None

    @staticmethod
    def _usage(usage: tuple[int, int]) -> dict:
        return {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}

    def whole(self, reply: Reply, usage: tuple[int, int], model: str, body: dict) -> Any:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [{"id": c["id"], "type": "function",
                                      "function": {"name": c["name"], "arguments": c["arguments"]}} for c in reply.tool_calls]
        return {"id": "chatcmpl-" + secrets.token_hex(12), "object": "chat.completion", "created": int(time.time()),
                "model": model, "system_fingerprint": "cab-scripted",
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
                "usage": self._usage(usage)}

    def deltas(self, reply: Reply, size: int) -> list[dict]:
        deltas: list[dict] = [{"role": "assistant", "content": ""}]
        for piece in pieces(reply.content, size) if reply.content else ():
            deltas.append({"content": piece})
        for index, call in enumerate(reply.tool_calls):
            function = {"name": call["name"], "arguments": ""}
            deltas.append({"tool_calls": [{"index": index, "id": call["id"], "type": "function", "function": function}]})
            for piece in pieces(call["arguments"], size):
                deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        return deltas

    def events(self, reply: Reply, usage: tuple[int, int], model: str, body: dict, size: int) -> list[bytes]:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        base: dict = {"id": "chatcmpl-" + secrets.token_hex(12), "object": "chat.completion.chunk",
                      "created": int(time.time()), "model": model}
        if include_usage:
            base["usage"] = None  # OpenAI marks every chunk but the last when usage was asked for
        out = [_sse({**base, "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": None}]})
               for d in self.deltas(reply, size)]
        out.append(_sse({**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": reply.finish_reason}]}))
        if include_usage:
            out.append(_sse({**base, "choices": [], "usage": self._usage(usage)}))
        return out


class Responses(Dialect):
    protocol_name = "responses"

    def invalid(self, body: dict) -> Optional[str]:
        if not isinstance(body.get("model"), str) or not isinstance(body.get("input"), (str, list)):
            return "a response needs 'model' (string) and 'input' (string or list)"
        return None

    @staticmethod
    def _items(reply: Reply) -> list[dict]:
        items: list[dict] = []
        if reply.content is not None:
            items.append({"type": "message", "id": "msg_" + secrets.token_hex(8), "status": "completed", "role": "assistant",
                          "content": [{"type": "output_text", "text": reply.content, "annotations": []}]})
        for call in reply.tool_calls:
            if call.get("custom"):
                items.append({"type": "custom_tool_call", "id": "ctc_" + secrets.token_hex(8), "status": "completed",
                              "call_id": call["id"], "name": call["name"], "input": call["arguments"]})
            else:
                items.append({"type": "function_call", "id": "fc_" + secrets.token_hex(8), "status": "completed",
                              "call_id": call["id"], "name": call["name"], "arguments": call["arguments"]})
        return items

    def whole(self, reply: Reply, usage: tuple[int, int], model: str, body: dict, status: str = "completed") -> Any:
        return {"id": "resp_" + secrets.token_hex(12), "object": "response", "created_at": int(time.time()),
                "status": status, "model": model, "output": self._items(reply) if status == "completed" else [],
                "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "error": None, "incomplete_details": None,
                "usage": {"input_tokens": usage[0], "output_tokens": usage[1], "total_tokens": sum(usage),
                          "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}}

    def events(self, reply: Reply, usage: tuple[int, int], model: str, body: dict, size: int) -> list[bytes]:
        final = self.whole(reply, usage, model, body)
        start = {**final, "status": "in_progress", "output": [], "usage": None}
        out, seq = [], iter(range(1 << 30))

        def ev(kind: str, **fields: Any) -> None:
            out.append(_sse({"type": kind, "sequence_number": next(seq), **fields}, kind))

        ev("response.created", response=start)
        ev("response.in_progress", response=start)
        for index, item in enumerate(final["output"]):
            if item["type"] == "message":
                ev("response.output_item.added", output_index=index, item={**item, "status": "in_progress", "content": []})
                part = {"type": "output_text", "text": "", "annotations": []}
                ev("response.content_part.added", item_id=item["id"], output_index=index, content_index=0, part=part)
                for piece in pieces(reply.content or "", size):
                    ev("response.output_text.delta", item_id=item["id"], output_index=index, content_index=0, delta=piece)
                ev("response.output_text.done", item_id=item["id"], output_index=index, content_index=0, text=reply.content)
                ev("response.content_part.done", item_id=item["id"], output_index=index, content_index=0, part=item["content"][0])
            else:
                key, kind = ("input", "custom_tool_call_input") if item["type"] == "custom_tool_call" else ("arguments", "function_call_arguments")
                ev("response.output_item.added", output_index=index, item={**item, "status": "in_progress", key: ""})
                for piece in pieces(item[key], size):
                    ev(f"response.{kind}.delta", item_id=item["id"], output_index=index, delta=piece)
                ev(f"response.{kind}.done", item_id=item["id"], output_index=index, **{key: item[key]})
            ev("response.output_item.done", output_index=index, item=item)
        ev("response.completed", response=final)
        return out

    def garbage_event(self) -> bytes:
        return b"event: response.created\ndata: {this is not json\n\n"


class Messages(Dialect):
    protocol_name = "anthropic.messages"

    def invalid(self, body: dict) -> Optional[str]:
        if not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
            return "messages: 'model' (string) and 'messages' (list) are required"
        if not isinstance(body.get("max_tokens"), int):
            return "max_tokens: Field required"
        return None

    def error(self, status: int, message: str, kind: str, code: Optional[str] = None) -> dict:
        return self.protocol.error_body(status, message, kind)

    @staticmethod
    def _stop(reply: Reply) -> str:
        return "tool_use" if reply.tool_calls else "end_turn"

    def whole(self, reply: Reply, usage: tuple[int, int], model: str, body: dict) -> Any:
        content: list[dict] = [{"type": "text", "text": reply.content}] if reply.content is not None else []
        content += [{"type": "tool_use", "id": "toolu_" + c["id"], "name": c["name"], "input": json.loads(c["arguments"])}
                    for c in reply.tool_calls]
        return {"id": "msg_" + secrets.token_hex(12), "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": self._stop(reply), "stop_sequence": None,
                "usage": {"input_tokens": usage[0], "output_tokens": usage[1],
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}

    def events(self, reply: Reply, usage: tuple[int, int], model: str, body: dict, size: int) -> list[bytes]:
        final = self.whole(reply, usage, model, body)
        start = {**final, "content": [], "stop_reason": None, "usage": {**final["usage"], "output_tokens": 1}}
        out = [_sse({"type": "message_start", "message": start}, "message_start")]
        for index, block in enumerate(final["content"]):
            if block["type"] == "text":
                first, kind, key, text = {"type": "text", "text": ""}, "text_delta", "text", block["text"]
            else:
                first, kind, key, text = {**block, "input": {}}, "input_json_delta", "partial_json", json.dumps(block["input"])
            out.append(_sse({"type": "content_block_start", "index": index, "content_block": first}, "content_block_start"))
            for piece in pieces(text, size):
                out.append(_sse({"type": "content_block_delta", "index": index, "delta": {"type": kind, key: piece}},
                                "content_block_delta"))
            out.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        out.append(_sse({"type": "message_delta", "delta": {"stop_reason": final["stop_reason"], "stop_sequence": None},
                         "usage": {"output_tokens": usage[1]}}, "message_delta"))
        out.append(_sse({"type": "message_stop"}, "message_stop"))
        return out

    def garbage_event(self) -> bytes:
        return b"event: message_start\ndata: {this is not json\n\n"


class Gemini(Dialect):
    protocol_name = "gemini.generate_content"

    def invalid(self, body: dict) -> Optional[str]:
        return None if isinstance(body.get("contents"), list) else "contents: a list of Content is required"

    def error(self, status: int, message: str, kind: str, code: Optional[str] = None) -> dict:
        return self.protocol.error_body(status, message, kind)

    @staticmethod
    def _usage(usage: tuple[int, int]) -> dict:
        return {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1], "totalTokenCount": sum(usage)}

    def _event(self, parts: list, model: str, finish: Optional[str], usage: Optional[tuple[int, int]]) -> dict:
        candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        event: dict = {"candidates": [candidate], "modelVersion": model}
        if usage is not None:
            event["usageMetadata"] = self._usage(usage)
        return event

    @staticmethod
    def _parts(reply: Reply) -> list[dict]:
        parts: list[dict] = [{"text": reply.content}] if reply.content is not None else []
        return parts + [{"functionCall": {"id": c["id"], "name": c["name"], "args": json.loads(c["arguments"])}}
                        for c in reply.tool_calls]

    def whole(self, reply: Reply, usage: tuple[int, int], model: str, body: dict) -> Any:
        if body.get("stream"):  # streamGenerateContent without alt=sse: a JSON array of the events
            return [json.loads(e[6:]) for e in self.events(reply, usage, model, body, 1 << 30)]
        return self._event(self._parts(reply), model, "STOP", usage)

    def events(self, reply: Reply, usage: tuple[int, int], model: str, body: dict, size: int) -> list[bytes]:
        out = [_sse(self._event([{"text": piece}], model, None, None)) for piece in pieces(reply.content, size)] if reply.content else []
        calls = [p for p in self._parts(reply) if "functionCall" in p]
        out.append(_sse(self._event(calls, model, "STOP", usage)))
        return out


DIALECTS = {d.protocol_name: d for d in (Chat(), Responses(), Messages(), Gemini())}
