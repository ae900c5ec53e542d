"""Writing through a tool that refuses to overwrite a file the model has not read.

Some agents' file-writing tools (Qwen Code's ``write_file``, Claude Code's ``Write``)
refuse to overwrite an existing file until it was read in the session, and say so in
the tool result ("File x has not been read in this session. Use the read_file tool
first ...", "File has not been read yet. Read it first before writing to it.").  The
oracle then does what a model would: reads each refused file with the agent's own
read tool, and writes it again.  Recognised by shape, not by agent name:

* a *read tool* is a function named like "read" with a path-like property and no
  content-like one;
* a *refusal* is a tool result that asks for a read first (or a re-read before the
  write), answering one of the write calls.

One retry per turn: a write refused again after the read is left for the model's
closing message, so nothing loops.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Mapping, Optional

#: A tool result asking for the file to be read before it is written.
READ_FIRST = re.compile(r"not (?:yet )?been read|\bre-?read\b|\bread\b[^.\n]{0,60}\b(?:first|before)\b", re.IGNORECASE)


def find_read_tool(tools: Iterable[Any], path_keys: tuple, content_keys: tuple) -> Optional[tuple[str, str]]:
    """The agent's read tool: ``(name, path_property)``, or ``None``."""
    best: Optional[tuple[int, tuple[str, str]]] = None
    for tool in tools or ():
        function = tool.get("function") if isinstance(tool, Mapping) and tool.get("type", "function") == "function" else None
        if not isinstance(function, Mapping) or "read" not in str(function.get("name", "")).lower():
            continue
        params = function.get("parameters") if isinstance(function.get("parameters"), Mapping) else {}
        props = params.get("properties") if isinstance(params.get("properties"), Mapping) else {}
        by_lower = {str(k).lower(): str(k) for k in props}
        path_key = next((by_lower[k] for k in path_keys if k in by_lower), None)
        if path_key is None or any(k in by_lower for k in content_keys):
            continue
        name = str(function["name"])
        rank = 0 if name.lower() in ("read", "read_file", "readfile") else 1
        if best is None or rank < best[0]:
            best = (rank, (name, path_key))
    return best[1] if best else None


def _turn(messages: list) -> list:
    """The messages after the last user message (the model's calls and their results)."""
    last_user = max((i for i, m in enumerate(messages) if isinstance(m, Mapping) and m.get("role") == "user"), default=-1)
    return [m for m in messages[last_user + 1 :] if isinstance(m, Mapping)]


def _calls(message: Mapping) -> list[tuple[str, str, dict]]:
    """``(id, name, arguments)`` of an assistant message's tool calls."""
    out = []
    for call in message.get("tool_calls") or ():
        function = (call.get("function") if isinstance(call, Mapping) else None) or {}
        try:
            args = json.loads(function.get("arguments") or "{}")
        except (TypeError, ValueError):
            args = {}
        out.append((str(call.get("id") or ""), str(function.get("name") or ""), args if isinstance(args, dict) else {}))
    return out


def _results(turn: list, index: int, calls: list) -> list[str]:
    """The result text of each call made at ``turn[index]``: by id, else in order."""
    following = []
    for message in turn[index + 1 :]:
        if message.get("role") != "tool":
            break
        following.append(message)
    by_id = {str(m.get("tool_call_id") or ""): str(m.get("content") or "") for m in following}
    return [by_id.get(cid, str(following[i].get("content") or "") if i < len(following) else "")
            for i, (cid, _, _) in enumerate(calls)]


def retry_paths(messages: list, write: tuple[str, str, str], read: tuple[str, str]) -> tuple[str, list[str]]:
    """What to do next in this turn: ``("read", paths)``, ``("write", paths)`` or ``("", [])`` (finish).

    ``read`` after the last round of writes was refused for ``paths``; ``write`` after the
    last round of reads, once per turn.
    """
    turn = _turn(messages)
    rounds = [(i, _calls(m)) for i, m in enumerate(turn) if m.get("role") == "assistant" and m.get("tool_calls")]
    if not rounds:
        return "", []
    index, calls = rounds[-1]
    names = {name for _, name, _ in calls}
    writes = sum(1 for _, c in rounds if {n for _, n, _ in c} == {write[0]})
    if names == {write[0]} and writes == 1:
        results = _results(turn, index, calls)
        refused = [args.get(write[1]) for (_, _, args), text in zip(calls, results) if READ_FIRST.search(text)]
        return ("read", [p for p in refused if isinstance(p, str)]) if refused else ("", [])
    if names == {read[0]} and writes == 1:
        return "write", [args[read[1]] for _, _, args in calls if isinstance(args.get(read[1]), str)]
    return "", []
