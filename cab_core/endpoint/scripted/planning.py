"""Planning what the scripted model answers, whatever protocol it is asked in.

A behaviour (the last segment of the requested model name, so ``scripted/oracle``,
``oracle`` and ``openai/scripted/oracle`` are the same) answers from the task's
:class:`ScriptContext`:

``oracle``
    Writes the reference solution in the form the calling agent understands: calls to
    the agent's own file-writing tool when the request offers one (or one patch to its
    ``apply_patch`` tool, or one script to its shell tool when that is its only editing
    tool, or ``printf`` commands to its shell tool for an agent whose editor cannot
    overwrite a file whole, such as Cline's or Copilot CLI's ``create``), else, for an
    agent whose prompt asks for one shell block per reply, that script in such a block
    (:mod:`.shell`), else aider-style edits in the format the system prompt asks for
    (:mod:`.aider`).  After the tool results come back it finishes with a message.
``noop``
    Replies ``done`` and changes nothing (to a one-shell-block agent: the command
    its prompt names for finishing).
``refuse``
    Declines the task in plain words (to a one-shell-block agent: with that command).
``vandal``
    Like ``oracle``, and also writes ``VANDAL.txt`` and overwrites one protected test
    file with one that trivially passes (for testing the scorers that catch this).
``loop``
    Never finishes: every answer calls a harmless tool again (:func:`loop_reply`), the
    agent that shows budgets (``--max-model-calls``) stop a run.

Planning sees every request as Chat Completions ``messages`` and ``tools``; the
renderers (:mod:`.render`) write the :class:`Reply` in each wire protocol.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from typing import Any, Iterable, Mapping, Optional

import attrs

from ...tokens import estimate_prompt_tokens, estimate_tokens
from . import read_first, shell
from .aider import _message_text, done_text, system_text, text_edits

#: Behaviours that answer (see the module docstring).
BEHAVIOURS = ("oracle", "noop", "refuse", "vandal", "loop")
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
_CWD_PATTERNS = (
    re.compile(r"working directory(?: is)?\s*[:=]?\s*[`'\"]?(/[^\s`'\"<>]*)", re.IGNORECASE),
    re.compile(r"\bcwd\b\s*[:=]?\s*[`'\"]?(/[^\s`'\"<>]*)", re.IGNORECASE),
    re.compile(r"<cwd>\s*(/[^<\s]*)\s*</cwd>"),  # Codex's environment context
    re.compile(r"working in the directory:?\s*[`'\"]?(/[^\s`'\"<>]*)", re.IGNORECASE),  # Gemini CLI, Qwen Code
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


_system_text = system_text


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


def find_patch_tool(tools: Iterable[Any]) -> Optional[tuple[str, Optional[str]]]:
    """The agent's patch tool (Codex's ``apply_patch``): ``(name, input_property)``, or ``(name, None)`` for a freeform one."""
    for tool in tools or ():
        if not isinstance(tool, Mapping):
            continue
        if tool.get("type") == "custom" and isinstance(tool.get("custom"), Mapping):
            name = str(tool["custom"].get("name") or "")
            if "patch" in name.lower():
                return name, None
        function = tool.get("function")
        if tool.get("type", "function") != "function" or not isinstance(function, Mapping):
            continue
        name = str(function.get("name") or "")
        props = (function.get("parameters") or {}).get("properties") if isinstance(function.get("parameters"), Mapping) else None
        strings = [k for k, v in (props or {}).items() if isinstance(v, Mapping) and v.get("type") == "string"]
        if "patch" in name.lower() and len(strings) == 1:
            return name, str(strings[0])
    return None


def codex_patch(files: Mapping[str, str], cwd: Optional[str] = None) -> str:
    """The files as one ``*** Begin Patch`` envelope of ``Add File`` hunks (Add File overwrites)."""
    lines = ["*** Begin Patch"]
    for path, content in files.items():
        lines.append(f"*** Add File: {posixpath.join(cwd, path) if cwd else path}")
        lines.extend("+" + line for line in content.splitlines())
    lines.append("*** End Patch")
    return "\n".join(lines) + "\n"


def _patch_reply(files: Mapping[str, str], tool: tuple[str, Optional[str]], cwd: Optional[str]) -> Reply:
    name, key = tool
    patch = codex_patch(files, cwd)
    call = {"id": _call_id(0, "patch"), "name": name}
    if key is None:
        call.update(arguments=patch, custom=True)
    else:
        call["arguments"] = json.dumps({key: patch}, ensure_ascii=False)
    return Reply(content=None, tool_calls=(call,), finish_reason="tool_calls")


def _shell_tool_reply(files: Mapping[str, str], tool: tuple[str, str, bool], cwd: Optional[str], tools: Iterable[Any]) -> Reply:
    arguments = shell.command_tool_arguments(files, tool, cwd, tools)
    call = {"id": _call_id(0, "shell"), "name": tool[0], "arguments": json.dumps(arguments, ensure_ascii=False)}
    return Reply(content=None, tool_calls=(call,), finish_reason="tool_calls")


#: The agent's shell tool for printf commands (re-exported: :func:`.shell.find_command_tool`).
find_shell_tool = shell.find_command_tool
shell_commands = shell.printf_commands


def working_directory(messages: list) -> Optional[str]:
    """The absolute working directory the prompt names ("Current working directory: /x"), if any.

    The system prompt is read first; agents that put their environment in the first
    user message instead (Codex's ``<cwd>``, Gemini CLI's "working in the directory")
    are read there.
    """
    system = _system_text(messages)
    users = [_message_text(m) for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
    for text in [system, *users[:2]]:
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


_done_text = done_text


def _call_id(index: int, path: str) -> str:
    return f"call_{index}_{hashlib.sha256(path.encode()).hexdigest()[:12]}"


def _shell_reply(behaviour: str, files: dict, messages: list, tools: list) -> Optional[Reply]:
    """The reply to an agent that edits (and may have to finish) through a shell, else None (see :mod:`.shell`).

    That is an agent without tools whose prompt asks for one shell block per reply, or one
    whose only editing tool is a shell.  Where the prompt names a command that ends the run,
    the last reply runs it (noop and refuse run it at once), as the agent requires.
    """
    prompt = "\n".join(_message_text(m) for m in messages[:3] if isinstance(m, Mapping))
    thought = REFUSAL if behaviour == "refuse" else "I write the fix." if files else "done"
    if not tools:
        answered = any(isinstance(m, Mapping) and m.get("role") == "assistant" for m in messages)
        block = shell.block_turn(thought, files, prompt, answered)
        return None if block is None else Reply(content=block)
    found = shell.find_shell_tool(tools) if not find_write_tool(tools) and not find_patch_tool(tools) else None
    if found is None:
        return None
    name, key, argv = found
    if files and not _tools_answered(messages):
        command, content = shell.write_script(files), None
    else:
        command, content = shell.finish_command(prompt), thought if not files else _done_text(files)
        if command is None:
            return Reply(content=content)
    arguments = json.dumps(shell.tool_arguments(key, argv, command), ensure_ascii=False)
    call = {"id": _call_id(0, command), "name": name, "arguments": arguments}
    return Reply(content=content, tool_calls=(call,), finish_reason="tool_calls")


def plan_reply(behaviour: str, ctx: ScriptContext, body: Mapping[str, Any]) -> Reply:
    """What ``behaviour`` answers to a chat-completions request ``body`` for the task ``ctx``.

    Every protocol is planned here: its request is first read as Chat Completions
    ``messages`` and ``tools`` (the protocol's own :meth:`~cab_core.endpoint.WireProtocol.messages`
    and ``tools``), then each renderer writes the reply in its own wire shape.
    """
    messages = body.get("messages") or []
    files = edits_for(behaviour, ctx)
    shell_reply = _shell_reply(behaviour, files, messages, list(body.get("tools") or ()))
    if shell_reply is not None:
        return shell_reply
    if behaviour == "noop":
        return Reply(content="done")
    if behaviour == "refuse":
        return Reply(content=REFUSAL)
    if behaviour == "loop":
        return loop_reply(body)
    tool = find_write_tool(body.get("tools") or ())
    patch_tool = find_patch_tool(body.get("tools") or ()) if tool is None else None
    shell_tool = shell.find_command_tool(body.get("tools") or ()) if patch_tool is None else None
    if tool is not None and shell_tool is not None and "create" in tool[0].lower() and "write" not in tool[0].lower():
        tool = None  # a "create" tool may refuse to overwrite (Copilot CLI's does): the shell writes instead
    elif tool is not None:
        shell_tool = None
    if tool is None and patch_tool is None and shell_tool is None:
        if not files:
            return Reply(content=_done_text(()))
        return Reply(content=text_edits(files, ctx.test_files, messages))
    if _tools_answered(messages) or not files:
        if tool is not None and files:
            return _read_then_write(messages, body.get("tools") or (), tool, files)
        return Reply(content=_done_text(files))
    if patch_tool is not None:
        return _patch_reply(files, patch_tool, working_directory(messages))
    if shell_tool is not None:
        return _shell_tool_reply(files, shell_tool, working_directory(messages), body.get("tools") or ())
    return _write_reply(files, tool, working_directory(messages))


def _write_reply(files: Mapping[str, str], tool: tuple[str, str, str], cwd: Optional[str], salt: str = "") -> Reply:
    name, path_key, content_key = tool
    calls = []
    for i, (path, content) in enumerate(files.items()):
        target = posixpath.join(cwd, path) if cwd else path
        arguments = json.dumps({path_key: target, content_key: content}, ensure_ascii=False)
        calls.append({"id": _call_id(i, salt + path), "name": name, "arguments": arguments})
    return Reply(content=None, tool_calls=tuple(calls), finish_reason="tool_calls")


def loop_reply(body: Mapping[str, Any]) -> Reply:
    """``loop``: an agent that never finishes: every answer calls a harmless tool again.

    A read-like tool reads the working directory ("."); a shell-like tool runs ``echo
    cab-loop``; else the write tool rewrites ``cab-loop.txt``.  With no tools it keeps
    saying it is still working.
    """
    turn = sum(1 for m in body.get("messages") or () if isinstance(m, Mapping) and m.get("role") == "assistant")
    chosen: Optional[tuple[str, dict]] = None
    for tool in body.get("tools") or ():
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or not function.get("name"):
            continue
        name, params = str(function["name"]), function.get("parameters") or {}
        props = {str(k).lower(): str(k) for k in (params.get("properties") or {})} if isinstance(params, Mapping) else {}
        path_key = next((props[k] for k in _PATH_KEYS if k in props), None)
        if "read" in name.lower() and path_key:
            chosen = (name, {path_key: "."})
            break
        if chosen is None and "command" in props and any(w in name.lower() for w in ("bash", "shell", "exec", "run")):
            chosen = (name, {props["command"]: "echo cab-loop"})
    if chosen is None:
        write = find_write_tool(body.get("tools") or ())
        if write is not None:
            chosen = (write[0], {write[1]: "cab-loop.txt", write[2]: f"turn {turn}\n"})
    if chosen is None:
        return Reply(content=f"Still working (turn {turn}); I will keep going.")
    call = {"id": f"call_loop_{turn}", "name": chosen[0], "arguments": json.dumps(chosen[1])}
    return Reply(content=None, tool_calls=(call,), finish_reason="tool_calls")


def _read_then_write(messages: list, tools: Iterable[Any], tool: tuple[str, str, str], files: Mapping[str, str]) -> Reply:
    """After the writes: read what the write tool refused to overwrite unread, then write it again (:mod:`.read_first`)."""
    read = read_first.find_read_tool(tools, _PATH_KEYS, _CONTENT_KEYS)
    step, paths = read_first.retry_paths(messages, tool, read) if read else ("", [])
    cwd = working_directory(messages)
    if step == "read" and read:
        calls = tuple({"id": _call_id(i, "read:" + p), "name": read[0], "arguments": json.dumps({read[1]: p}, ensure_ascii=False)}
                      for i, p in enumerate(paths))
        return Reply(content=None, tool_calls=calls, finish_reason="tool_calls")
    again = {p: c for p, c in files.items() if (posixpath.join(cwd, p) if cwd else p) in paths}
    if step == "write" and again:
        return _write_reply(again, tool, cwd, salt="again:")
    return Reply(content=_done_text(files))


def usage_for(body: Mapping[str, Any], reply: Reply) -> dict[str, int]:
    """The ``usage`` block for a reply, estimated with :mod:`cab_core.tokens`."""
    prompt = estimate_prompt_tokens(body.get("messages") or [], body.get("tools"))
    completion = estimate_tokens(reply.content or "") + sum(
        estimate_tokens(c["name"]) + estimate_tokens(c["arguments"]) for c in reply.tool_calls
    )
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


