"""Google Gemini ``generateContent`` / ``streamGenerateContent``, the protocol of Gemini CLI.

The model is in the route, not the body: ``POST /v1beta/models/{model}:generateContent``
(the proxy serves it below ``/v1`` and ``/v1beta`` alike) and ``:streamGenerateContent``,
which streams server-sent events with ``?alt=sse`` and a JSON array without.  The
recorded (and hashed) request is the body plus ``model`` and ``stream`` taken from the
route, so two models never share a cassette entry; the upstream gets the body as sent.
Contents are ``{"role": "user"|"model", "parts": [...]}`` with ``text``,
``functionCall`` (``name``, ``args``) and ``functionResponse`` parts; the system prompt
is ``systemInstruction``; tools are ``functionDeclarations``.  Each streamed event is a
whole ``GenerateContentResponse``; ``usageMetadata`` (``promptTokenCount``,
``candidatesTokenCount``, ``thoughtsTokenCount``) is the call's token count.  The key
travels in ``x-goog-api-key``; one given as ``?key=`` is dropped before the upstream.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ..tokens import message_text
from .protocol import Reading, WireProtocol, count, register_protocol, text_of

# 402 is cab's budget refusal: FAILED_PRECONDITION, not RESOURCE_EXHAUSTED (a quota clients wait out and retry).
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 402: "FAILED_PRECONDITION", 403: "PERMISSION_DENIED",
           404: "NOT_FOUND", 413: "INVALID_ARGUMENT", 415: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
           502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
ROUTE = re.compile(r"/models/(?P<model>[^:]+):(?P<action>generateContent|streamGenerateContent)")


def _parts_text(parts: Any) -> str:
    return "".join(p["text"] for p in parts or () if isinstance(p, dict) and isinstance(p.get("text"), str)
                   and not p.get("thought"))


def chat_messages(body: dict) -> list[dict]:
    """A Gemini request as Chat Completions messages (``functionCall`` -> ``tool_calls``, ``functionResponse`` -> ``tool``)."""
    out: list[dict] = []
    system = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(system, dict) and _parts_text(system.get("parts")):
        out.append({"role": "system", "content": _parts_text(system.get("parts"))})
    elif isinstance(system, str) and system:
        out.append({"role": "system", "content": system})
    for content in body.get("contents") or ():
        if not isinstance(content, dict):
            continue
        role = "assistant" if content.get("role") == "model" else "user"
        parts = [p for p in content.get("parts") or () if isinstance(p, dict)]
        calls = [p["functionCall"] for p in parts if isinstance(p.get("functionCall"), dict)]
        for p in parts:
            if isinstance(p.get("functionResponse"), dict):
                answer = p["functionResponse"]
                out.append({"role": "tool", "tool_call_id": str(answer.get("id") or answer.get("name") or ""),
                            "content": text_of(answer.get("response") or "")})
        text = _parts_text(parts)
        if text or calls:
            entry: dict = {"role": role, "content": text or None}
            if calls:
                entry["tool_calls"] = [{"id": str(c.get("id") or c.get("name") or ""), "type": "function",
                                        "function": {"name": str(c.get("name") or ""),
                                                     "arguments": json.dumps(c.get("args") or {}, ensure_ascii=False)}}
                                       for c in calls]
            out.append(entry)
    return out


class Gemini(WireProtocol):
    name = "gemini.generate_content"
    paths = ()
    path_pattern = ROUTE
    key_header = "x-goog-api-key"

    def annotate(self, body: dict, path: str, query: str) -> dict:
        match = ROUTE.fullmatch(path)
        if match is None:
            return body
        return {**body, "model": match["model"], "stream": match["action"] == "streamGenerateContent"}

    def upstream_query(self, query: str) -> str:
        pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "key"]
        return urlencode(pairs)

    def probe_path(self, model: str) -> str:
        return f"/models/{model}:generateContent"

    def messages(self, body: dict) -> tuple:
        return tuple(chat_messages(body))

    def tools(self, body: dict) -> list:
        tools = []
        for group in body.get("tools") or ():
            for decl in (group.get("functionDeclarations") or group.get("function_declarations") or ()) if isinstance(group, dict) else ():
                if isinstance(decl, dict) and decl.get("name"):
                    params = decl.get("parameters") or decl.get("parametersJsonSchema") or decl.get("parameters_json_schema") or {}
                    tools.append({"type": "function", "function": {"name": decl["name"], "description": decl.get("description") or "",
                                                                   "parameters": _lower_types(params)}})
        return tools

    def prompt_texts(self, body: dict) -> tuple[list[str], int]:
        messages = chat_messages(body)
        texts = [message_text(m) for m in messages]
        if body.get("tools"):
            texts.append(text_of(body["tools"]))
        return texts, len(messages)

    def error_body(self, status: int, message: str, kind: str) -> dict:
        return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}

    def probe_body(self, model: str) -> dict:
        return {"contents": [{"role": "user", "parts": [{"text": "Say OK."}]}], "generationConfig": {"maxOutputTokens": 1}}

    def probe_ok(self, obj: Any) -> bool:
        return isinstance(obj, dict) and "candidates" in obj and not obj.get("error")

    def read_event(self, reading: Reading, obj: Any, arrived: Any) -> None:
        if not isinstance(obj, dict):
            reading.fail("bad_response", f"stream event is not a JSON object: {text_of(obj)[:200]}")
            return
        if obj.get("error"):
            reading.fail("server", text_of(obj["error"]))
            return
        if isinstance(obj.get("usageMetadata"), dict):
            reading.usage = obj["usageMetadata"]
        candidates = obj.get("candidates")
        candidate = candidates[0] if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict) else {}
        content = candidate.get("content") if isinstance(candidate.get("content"), dict) else {}
        for part in content.get("parts") or ():
            if not isinstance(part, dict) or part.get("thought"):
                continue
            if isinstance(part.get("text"), str):
                reading.text(part["text"], arrived)
            if isinstance(part.get("functionCall"), dict):
                call = part["functionCall"]
                key = reading.notes["calls"] = reading.notes.get("calls", 0) + 1
                reading.tool(key, call.get("id"), call.get("name"), json.dumps(call.get("args") or {}), arrived)
        if candidate.get("finishReason"):
            reading.finish_reason = str(candidate["finishReason"])

    def read_body(self, reading: Reading, obj: Any) -> None:
        events = obj if isinstance(obj, list) else [obj]  # streamGenerateContent without alt=sse: a JSON array
        if not events or not all(isinstance(e, dict) and ("candidates" in e or "usageMetadata" in e) for e in events):
            if isinstance(obj, dict) and obj.get("error"):
                reading.fail("server", text_of(obj["error"]))
            else:
                reading.fail("bad_response", f"not a {self.name} response: {text_of(obj)[:400]}")
            return
        for event in events:
            self.read_event(reading, event, None)

    def stream_complete(self, reading: Reading, saw_done: bool) -> bool:
        return reading.finish_reason is not None

    def usage(self, usage: dict) -> tuple[int, int, int]:
        prompt = count(usage, "promptTokenCount")
        completion = count(usage, "candidatesTokenCount") + count(usage, "thoughtsTokenCount")
        return prompt, completion, count(usage, "totalTokenCount") or prompt + completion


def _lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI schema (``"type": "STRING"``) in JSON-schema spelling, so tools are found by their properties."""
    if isinstance(schema, dict):
        return {k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_lower_types(v) for v in schema]
    return schema


register_protocol(Gemini())
