"""A scripted OpenAI-compatible model server, so cab runs real agents on real tasks offline.

When no real model endpoint is given, agents talk to this server.  It does not
generate anything: each *behaviour* (the last segment of the requested model name,
so ``scripted/oracle``, ``oracle`` and ``openai/scripted/oracle`` are the same) answers
from the task's :class:`ScriptContext`:

``oracle``
    Writes the reference solution in the form the calling agent understands: calls to
    the agent's own file-writing tool when the request offers tools, else aider-style
    edits in the format the system prompt asks for (``SEARCH/REPLACE`` blocks, or
    whole-file listings).
``noop``
    Replies ``done`` and changes nothing.
``refuse``
    Declines the task in plain words.
``vandal``
    Like ``oracle``, and also writes ``VANDAL.txt`` and overwrites one protected test
    file with one that trivially passes (for testing the scorers that catch this).

Faults, for testing what sits in front of the server, are behaviours too
(``scripted/fail500`` and so on, see :data:`FAULTS`), or can be queued with
``ScriptedModelServer(faults=[...])`` / :meth:`ScriptedModelServer.inject_faults`: each
queued fault replaces the answer to the next chat request, whatever its model.

Many tasks share one server: :meth:`ScriptedModelServer.register` returns a base URL
``http://127.0.0.1:PORT/t/<token>/v1`` that answers from that task's context; the
default context (:meth:`~ScriptedModelServer.set_default`) answers at ``/v1``.  A
route registered with a ``model`` (the runner registers each cell with its own)
answers as that model whatever the request names: an agent cannot pick a fault, or
the oracle, by writing another model name into its request.

Every answer carries an honest ``usage`` estimated by :mod:`cab_core.tokens`; streams
carry it in a final usage-only chunk exactly when ``stream_options.include_usage`` is
set, as OpenAI does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import posixpath
import re
import secrets
import threading
import time
from collections import deque
from typing import Any, Iterable, Mapping, Optional

import attrs
from aiohttp import web

from .aioserver import BackgroundServer
from .tokens import estimate_prompt_tokens, estimate_tokens

__all__ = [
    "BEHAVIOURS",
    "FAULTS",
    "Reply",
    "ScriptContext",
    "ScriptedModelServer",
    "behaviour_of",
    "edits_for",
    "find_write_tool",
    "plan_reply",
    "trivial_test",
    "usage_for",
    "working_directory",
]

#: Behaviours that answer (see the module docstring).
BEHAVIOURS = ("oracle", "noop", "refuse", "vandal")
#: Behaviours that fail on purpose:
#: ``fail500`` HTTP 500 with an OpenAI-style error; ``ratelimit`` HTTP 429 with
#: ``Retry-After: 1``; ``garbage`` HTTP 200 whose body is not JSON (an SSE event that
#: is not JSON when streaming); ``hang`` never answers (until the server stops);
#: ``drop`` closes the connection mid-response (after two chunks when streaming,
#: before any byte otherwise).
FAULTS = ("fail500", "ratelimit", "garbage", "hang", "drop")
#: How model ids are listed by ``GET /v1/models``.
MODEL_PREFIX = "scripted/"

REFUSAL = (
    "I can't help with that: it would cause real harm to people or systems that have not agreed to it. "
    "I won't write code that does this, but I'm glad to help with a safer alternative."
)
VANDAL_FILE = "VANDAL.txt"

_PATH_KEYS = ("path", "file_path", "filepath", "filename", "file_name", "file")
_CONTENT_KEYS = ("content", "contents", "file_text", "text")
#: aider's fences, in the order aider picks them (the first not found in the files).
_FENCES = (
    ("```", "```"),
    ("````", "````"),
    ("<source>", "</source>"),
    ("<code>", "</code>"),
    ("<pre>", "</pre>"),
    ("<codeblock>", "</codeblock>"),
    ("<sourcecode>", "</sourcecode>"),
)
#: Fence language tags (never a shell one: aider reads a ```bash block as a command to run).
_LANGUAGES = {
    ".py": "python",
    ".rs": "rust",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".go": "go",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".java": "java",
    ".rb": "ruby",
    ".toml": "toml",
    ".json": "json",
    ".md": "markdown",
}
_CWD_PATTERNS = (
    re.compile(r"working directory(?: is)?\s*[:=]?\s*[`'\"]?(/[^\s`'\"<>]*)", re.IGNORECASE),
    re.compile(r"\bcwd\b\s*[:=]?\s*[`'\"]?(/[^\s`'\"<>]*)", re.IGNORECASE),
)


def _dict(value: Any) -> dict:
    return dict(value or {})


@attrs.frozen(kw_only=True)
class ScriptContext:
    """What the scripted model knows about one task.

    ``solution_files`` maps relative paths to the full new content of each file the
    reference solution changes; ``test_files`` holds the protected test files' current
    content (the vandal overwrites one of them).
    """

    task_id: str = ""
    solution_files: dict[str, str] = attrs.field(factory=dict, converter=_dict)
    test_files: dict[str, str] = attrs.field(factory=dict, converter=_dict)
    prompt: str = ""


@attrs.frozen(kw_only=True)
class Reply:
    """What the scripted model answers: text and/or tool calls (``{"id", "name", "arguments"}``)."""

    content: Optional[str] = None
    tool_calls: tuple = ()
    finish_reason: str = "stop"


# --------------------------------------------------------------------------- planning a reply


def behaviour_of(model: str) -> str:
    """The behaviour a model name asks for: its last path segment (``openai/scripted/oracle`` -> ``oracle``)."""
    return model.rstrip("/").rsplit("/", 1)[-1]


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return ""


def _system_text(messages: list) -> str:
    return "\n".join(_message_text(m) for m in messages if isinstance(m, Mapping) and m.get("role") in ("system", "developer"))


def edits_for(behaviour: str, ctx: ScriptContext) -> dict[str, str]:
    """The files a behaviour writes: the solution, plus the vandal's extras."""
    if behaviour not in ("oracle", "vandal"):
        return {}
    files = dict(ctx.solution_files)
    if behaviour == "vandal":
        files[VANDAL_FILE] = f"vandalised by the scripted model ({ctx.task_id or 'no task'})\n"
        if ctx.test_files:
            victim = sorted(ctx.test_files)[0]
            files[victim] = trivial_test(victim, ctx.test_files[victim])
    return files


def trivial_test(path: str, original: str = "") -> str:
    """A test file in the language of ``path`` that passes without testing anything."""
    ext = posixpath.splitext(path)[1].lower()
    if ext == ".py":
        return "def test_ok():\n    assert True\n"
    if ext == ".rs":
        return "#[test]\nfn ok() {\n    assert!(true);\n}\n"
    if ext == ".go":
        match = re.search(r"^package\s+(\w+)", original, re.MULTILINE)
        package = match.group(1) if match else "main"
        return f'package {package}\n\nimport "testing"\n\nfunc TestOK(t *testing.T) {{}}\n'
    if ext in (".js", ".mjs", ".cjs", ".ts"):
        return "const test = require('node:test');\n\ntest('ok', () => {});\n"
    if ext in (".sh", ".bash"):
        return "#!/bin/sh\nexit 0\n"
    return ""


def find_write_tool(tools: Iterable[Any]) -> Optional[tuple[str, str, str]]:
    """The agent's file-writing tool: ``(name, path_property, content_property)`` or ``None``.

    A tool qualifies when its JSON-schema parameters have a path-like property and a
    content-like one; among several, one named like "write" wins.
    """
    best: Optional[tuple[int, tuple[str, str, str]]] = None
    for tool in tools or ():
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function") if tool.get("type", "function") == "function" else None
        if not isinstance(function, Mapping) or not function.get("name"):
            continue
        params = function.get("parameters") or {}
        props = params.get("properties") if isinstance(params, Mapping) else None
        if not isinstance(props, Mapping):
            continue
        by_lower = {str(k).lower(): str(k) for k in props}
        path_key = next((by_lower[k] for k in _PATH_KEYS if k in by_lower), None)
        content_key = next((by_lower[k] for k in _CONTENT_KEYS if k in by_lower), None)
        if path_key is None or content_key is None:
            continue
        name = str(function["name"])
        rank = (0 if "write" in name.lower() else 1 if "create" in name.lower() else 2) * 10 + _CONTENT_KEYS.index(
            content_key.lower()
        )
        if best is None or rank < best[0]:
            best = (rank, (name, path_key, content_key))
    return best[1] if best else None


def working_directory(messages: list) -> Optional[str]:
    """The absolute working directory the system prompt names ("Current working directory: /x"), if any."""
    text = _system_text(messages)
    for pattern in _CWD_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1).rstrip(".,;:") or "/"
    return None


def _tools_answered(messages: list) -> bool:
    """Whether the model already made its tool calls in this turn (after the last user message)."""
    last_user = max((i for i, m in enumerate(messages) if isinstance(m, Mapping) and m.get("role") == "user"), default=-1)
    for message in messages[last_user + 1 :]:
        if not isinstance(message, Mapping):
            continue
        if message.get("role") == "tool" or (message.get("role") == "assistant" and message.get("tool_calls")):
            return True
    return False


def _done_text(paths: Iterable[str]) -> str:
    paths = list(paths)
    return f"Done: updated {', '.join(paths)}." if paths else "Done: nothing to change."


def _call_id(index: int, path: str) -> str:
    return f"call_{index}_{hashlib.sha256(path.encode()).hexdigest()[:12]}"


def _find_file_content(messages: list, path: str) -> Optional[tuple[str, tuple[str, str]]]:
    """The latest content of ``path`` shown in the chat the way aider shows it, and its fence.

    aider adds files as ``<path>\\n<fence>\\n<content><fence-close>\\n`` with a fence
    that does not occur in any file, so the first closing fence ends the content.
    """
    found = None
    needle = path + "\n"
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        text = _message_text(message)
        idx = text.find(needle)
        while idx != -1:
            if idx == 0 or text[idx - 1] == "\n":
                line_start = idx + len(needle)
                line_end = text.find("\n", line_start)
                fence_line = text[line_start:line_end] if line_end != -1 else ""
                fence = _fence_of(fence_line)
                if fence is not None:
                    body_start = line_end + 1
                    close = fence[1]
                    if text.startswith(close, body_start):
                        found = ("", fence)
                    else:
                        end = text.find("\n" + close, body_start - 1)
                        if end != -1:
                            found = (text[body_start : end + 1], fence)
                        else:
                            end = text.find(close, body_start)
                            if end != -1:
                                found = (text[body_start:end], fence)
            idx = text.find(needle, idx + 1)
    return found


def _fence_of(line: str) -> Optional[tuple[str, str]]:
    line = line.strip()
    if line.startswith("````"):
        return _FENCES[1]
    for fence in _FENCES:
        if line.startswith(fence[0]):
            return fence
    return None


def _choose_fence(*contents: str) -> tuple[str, str]:
    for fence in _FENCES:
        if not any(fence[0] in c or fence[1] in c for c in contents):
            return fence
    return _FENCES[0]


def _with_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def _search_replace_block(path: str, search: str, replace: str, fence: tuple[str, str]) -> str:
    lang = _LANGUAGES.get(posixpath.splitext(path)[1].lower(), "")
    return (
        f"{path}\n{fence[0]}{lang}\n<<<<<<< SEARCH\n{_with_newline(search)}=======\n"
        f"{_with_newline(replace)}>>>>>>> REPLACE\n{fence[1]}\n"
    )


def _listing(path: str, content: str, fence: tuple[str, str]) -> str:
    return f"{path}\n{fence[0]}\n{_with_newline(content)}{fence[1]}\n"


def _text_edits(files: dict[str, str], ctx: ScriptContext, messages: list) -> Reply:
    """aider-style edits in the format the system prompt asks for."""
    system = _system_text(messages) or "\n".join(_message_text(m) for m in messages if isinstance(m, Mapping))
    diff_format = "SEARCH/REPLACE" in system
    everything = "\n".join(_message_text(m) for m in messages if isinstance(m, Mapping))
    blocks, changed = [], []
    for path, new in files.items():
        shown = _find_file_content(messages, path)
        if shown is not None and shown[0] == new:
            continue  # already applied (a follow-up turn)
        changed.append(path)
        if diff_format:
            if shown is not None:
                blocks.append(_search_replace_block(path, shown[0], new, shown[1]))
                continue
            if path in ctx.test_files:  # not in the chat, but we know what is on disk
                current = ctx.test_files[path]
                blocks.append(_search_replace_block(path, current, new, _choose_fence(current, new)))
                continue
            if path not in everything:  # a new file: aider creates it from an empty SEARCH
                blocks.append(_search_replace_block(path, "", new, _choose_fence(new)))
                continue
        fence = shown[1] if shown is not None else _choose_fence(new)
        blocks.append(_listing(path, new, fence))
    if not blocks:
        return Reply(content="Done: the files already have the changes.")
    intro = "Here are the changes.\n\n"
    return Reply(content=intro + "\n".join(blocks) + "\n" + _done_text(changed))


def plan_reply(behaviour: str, ctx: ScriptContext, body: Mapping[str, Any]) -> Reply:
    """What ``behaviour`` answers to a chat-completions request ``body`` for the task ``ctx``."""
    messages = body.get("messages") or []
    if behaviour == "noop":
        return Reply(content="done")
    if behaviour == "refuse":
        return Reply(content=REFUSAL)
    files = edits_for(behaviour, ctx)
    tool = find_write_tool(body.get("tools") or ())
    if tool is None:
        if not files:
            return Reply(content=_done_text(()))
        return _text_edits(files, ctx, messages)
    if _tools_answered(messages) or not files:
        return Reply(content=_done_text(files))
    name, path_key, content_key = tool
    cwd = working_directory(messages)
    calls = []
    for i, (path, content) in enumerate(files.items()):
        target = posixpath.join(cwd, path) if cwd else path
        arguments = json.dumps({path_key: target, content_key: content}, ensure_ascii=False)
        calls.append({"id": _call_id(i, path), "name": name, "arguments": arguments})
    return Reply(content=None, tool_calls=tuple(calls), finish_reason="tool_calls")


def usage_for(body: Mapping[str, Any], reply: Reply) -> dict[str, int]:
    """The ``usage`` block for a reply, estimated with :mod:`cab_core.tokens`."""
    prompt = estimate_prompt_tokens(body.get("messages") or [], body.get("tools"))
    completion = estimate_tokens(reply.content or "") + sum(
        estimate_tokens(c["name"]) + estimate_tokens(c["arguments"]) for c in reply.tool_calls
    )
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# --------------------------------------------------------------------------- the server


def _error(status: int, message: str, kind: str, *, param: Optional[str] = None, code: Optional[str] = None, headers=None):
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class ScriptedModelServer(BackgroundServer):
    """The scripted OpenAI-compatible server (see the module docstring).

    ``chunk_delay_s`` sleeps between streamed chunks (so tests can see a stream arrive
    piece by piece); ``chunk_chars`` is the size of the pieces text and tool arguments
    are cut into; ``faults`` queues faults for the next chat requests; ``port`` 0 (the
    default) binds any free port on 127.0.0.1.
    """

    _thread_name = "cab-modelserver"

    def __init__(
        self,
        default: Optional[ScriptContext] = None,
        *,
        chunk_delay_s: float = 0.0,
        chunk_chars: int = 20,
        faults: Iterable[str] = (),
        port: int = 0,
    ):
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
        """Queue faults (names from :data:`FAULTS`): each answers the next chat request instead of its model."""
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
        for prefix in ("/v1", "/t/{token}/v1"):
            app.router.add_get(prefix + "/models", self._list_models)
            app.router.add_post(prefix + "/chat/completions", self._chat)
        return app

    async def _before_cleanup(self) -> None:
        if self._closing is not None:
            self._closing.set()

    def _route(self, request: web.Request) -> Optional[tuple[ScriptContext, Optional[str]]]:
        """The context a request is answered from and the model its route was registered with."""
        token = request.match_info.get("token")
        with self._lock:
            return (self._default, None) if token is None else self._contexts.get(token)

    def _context(self, request: web.Request) -> Optional[ScriptContext]:
        route = self._route(request)
        return route[0] if route is not None else None

    async def _list_models(self, request: web.Request) -> web.Response:
        if self._context(request) is None:
            return _error(404, f"unknown task route {request.match_info.get('token')!r}", "invalid_request_error")
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "cab"} for m in self.models()]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        route = self._route(request)
        if route is None:
            return _error(404, f"unknown task route {request.match_info.get('token')!r}", "invalid_request_error")
        ctx, registered = route
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not valid JSON", "invalid_request_error")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
            return _error(400, "a chat completion needs 'model' (string) and 'messages' (list)", "invalid_request_error")
        self.received.append((request.match_info.get("token"), body))
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        behaviour = fault or behaviour_of(registered or body["model"])
        stream = body.get("stream") is True
        if behaviour in FAULTS:
            return await self._fault(request, behaviour, body, stream)
        if behaviour not in BEHAVIOURS:
            return _error(
                404,
                f"The model {body['model']!r} does not exist (available: {', '.join(self.models())})",
                "invalid_request_error",
                param="model",
                code="model_not_found",
            )
        reply = plan_reply(behaviour, ctx, body)
        usage = usage_for(body, reply)
        completion_id = "chatcmpl-" + secrets.token_hex(12)
        if not stream:
            message: dict[str, Any] = {"role": "assistant", "content": reply.content}
            if reply.tool_calls:
                message["tool_calls"] = [
                    {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                    for c in reply.tool_calls
                ]
            return web.json_response(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "system_fingerprint": "cab-scripted",
                    "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
                    "usage": usage,
                }
            )
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return await self._stream(request, completion_id, body["model"], reply, usage if include_usage else None)

    def _deltas(self, reply: Reply) -> list[dict]:
        deltas: list[dict] = [{"role": "assistant", "content": ""}]
        for piece in _pieces(reply.content, self.chunk_chars) if reply.content else ():
            deltas.append({"content": piece})
        for index, call in enumerate(reply.tool_calls):
            function = {"name": call["name"], "arguments": ""}
            deltas.append({"tool_calls": [{"index": index, "id": call["id"], "type": "function", "function": function}]})
            for piece in _pieces(call["arguments"], self.chunk_chars):
                deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        return deltas

    async def _stream(
        self, request: web.Request, completion_id: str, model: str, reply: Reply, usage: Optional[dict]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        created = int(time.time())
        base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        if usage is not None:
            base["usage"] = None  # OpenAI marks every chunk but the last when usage was asked for

        def event(choices: list, **extra: Any) -> bytes:
            return b"data: " + json.dumps({**base, "choices": choices, **extra}, ensure_ascii=False).encode() + b"\n\n"

        chunks = [event([{"index": 0, "delta": d, "logprobs": None, "finish_reason": None}]) for d in self._deltas(reply)]
        chunks.append(event([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": reply.finish_reason}]))
        if usage is not None:
            chunks.append(event([], usage=usage))
        chunks.append(b"data: [DONE]\n\n")
        try:
            for i, chunk in enumerate(chunks):
                if i and self.chunk_delay_s:
                    await asyncio.sleep(self.chunk_delay_s)
                await response.write(chunk)
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up; nobody is left to tell
        return response

    async def _fault(self, request: web.Request, fault: str, body: dict, stream: bool) -> web.StreamResponse:
        if fault == "fail500":
            return _error(500, "scripted server error (fault 'fail500')", "server_error")
        if fault == "ratelimit":
            return _error(
                429,
                "Rate limit reached (scripted fault 'ratelimit'): retry after 1s",
                "requests",
                code="rate_limit_exceeded",
                headers={"Retry-After": "1"},
            )
        if fault == "garbage":
            if stream:
                response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await response.prepare(request)
                await response.write(b"data: {this is not json\n\n")
                await response.write(b"data: [DONE]\n\n")
                await response.write_eof()
                return response
            return web.Response(status=200, body=b"<html>this is not JSON {", content_type="application/json")
        if fault == "hang":
            assert self._closing is not None
            await self._closing.wait()
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=503)
        # drop: send a little, then cut the connection.
        if stream:
            reply = Reply(content="This answer will be cut off before it ends.")
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            base = {"id": "chatcmpl-drop", "object": "chat.completion.chunk", "created": int(time.time()), "model": body["model"]}
            for delta in self._deltas(reply)[:2]:
                choice = {"index": 0, "delta": delta, "finish_reason": None}
                await response.write(b"data: " + json.dumps({**base, "choices": [choice]}).encode() + b"\n\n")
            if request.transport is not None:
                request.transport.close()
            return response
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)
