"""Edits through a shell, for agents whose only way to change files is running commands.

Two request shapes ask for this, whichever agent sends them:

* a *shell tool*: a function whose name says shell/bash/exec/command/terminal and whose
  one required property is the command (``cmd``/``command``/``script``), a string or
  an argv list (Codex's ``exec_command``, older Codex's ``shell``);
* *no tools, and a prompt that asks for exactly one fenced shell block per reply*
  (mini-swe-agent and other bash-only agents that read one ```bash block from the text
  and send its output back as the next user message).  Such prompts name the command
  that ends the run (``echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT``); once the oracle's
  script has been sent, the next reply is that command.

The script writes each file with a quoted here-document (nothing in it is expanded),
so what lands on disk is byte-for-byte the solution, and it reads like what a model
would type.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shlex
from typing import Any, Iterable, Mapping, Optional

_NAME_HINTS = ("shell", "bash", "exec", "command", "terminal", "run")
_COMMAND_KEYS = ("cmd", "command", "script")
#: The command property of a tool that takes commands to run one by one (Cline's ``run_commands``).
_COMMAND_LIST_KEYS = ("command", "commands", "cmd")
#: A prompt asking for one shell block per reply ("exactly ONE bash code block").
_ONE_BLOCK = re.compile(r"\b(?:exactly\s+)?one\s+(?:bash|shell)\s+(?:code\s+)?block", re.IGNORECASE)
#: The command that ends the run, as such prompts name it.
_FINISH = re.compile(r"\becho\s+([A-Z][A-Z0-9_]{7,})\b")
#: A fenced block whose info string names a shell.
_FENCE_TAG = re.compile(r"```(\w*(?:bash|sh|shell)\w*)[ \t]*\n")


def find_shell_tool(tools: Iterable[Any]) -> Optional[tuple[str, str, bool]]:
    """The agent's shell tool: ``(name, command_property, takes_argv)``, or ``None``."""
    for tool in tools or ():
        function = tool.get("function") if isinstance(tool, Mapping) and tool.get("type", "function") == "function" else None
        if not isinstance(function, Mapping) or not any(h in str(function.get("name", "")).lower() for h in _NAME_HINTS):
            continue
        params = function.get("parameters") if isinstance(function.get("parameters"), Mapping) else {}
        props = params.get("properties") if isinstance(params.get("properties"), Mapping) else {}
        for key in _COMMAND_KEYS:
            spec = props.get(key)
            if isinstance(spec, Mapping) and spec.get("type") in ("string", "array") and key in (params.get("required") or ()):
                return str(function["name"]), key, spec.get("type") == "array"
    return None


def write_script(files: Mapping[str, str]) -> str:
    """A POSIX shell script that writes each file (relative to the working directory) exactly."""
    lines = []
    for path, content in files.items():
        end = "CAB_EOF"
        while end in content:
            end = "CAB_EOF_" + hashlib.sha256((end + content).encode()).hexdigest()[:8]
        folder = posixpath.dirname(path)
        if folder:
            lines.append(f"mkdir -p {shlex.quote(folder)}")
        body = content if content.endswith("\n") else content + "\n"
        if content.endswith("\n") or not content:
            lines.append(f"cat > {shlex.quote(path)} <<'{end}'\n{body}{end}" if content else f": > {shlex.quote(path)}")
        else:  # the here-document adds a newline the file does not have: printf drops it again
            lines.append(f"printf '%s' \"$(cat <<'{end}'\n{body}{end}\n)\" > {shlex.quote(path)}")
    return "\n".join(lines)


def tool_arguments(key: str, takes_argv: bool, script: str) -> dict:
    """The shell tool's arguments running ``script``."""
    return {key: ["bash", "-lc", script] if takes_argv else script}


def wants_one_block(system: str) -> bool:
    """Whether the prompt asks for exactly one fenced shell block per reply."""
    return bool(_ONE_BLOCK.search(system))


def finish_command(text: str) -> Optional[str]:
    """The ``echo TOKEN`` command the prompt says ends the run, if it names one."""
    match = _FINISH.search(text)
    return f"echo {match.group(1)}" if match else None


def fence_tag(text: str) -> str:
    """The info string the prompt's own shell examples use (``bash``, ``mswea_bash_command``, ...)."""
    match = _FENCE_TAG.search(text)
    return match.group(1) if match else "bash"


def block_reply(thought: str, command: str, tag: str = "bash") -> str:
    """A reply holding one fenced shell block, the way such prompts ask for it."""
    return f"THOUGHT: {thought}\n\n```{tag}\n{command}\n```\n"


def block_turn(thought: str, files: Mapping[str, str], prompt: str, answered: bool) -> Optional[str]:
    """The next reply to an agent whose prompt asks for one shell block per reply, else None.

    ``prompt`` is the system and first user messages' text; ``answered`` whether the model
    already spoke in this run (then its script was run: the reply ends the run).
    """
    if not wants_one_block(prompt):
        return None
    tag = fence_tag(prompt)
    if files and not answered:
        return block_reply(thought, write_script(files), tag)
    finish = finish_command(prompt)
    return block_reply(thought if not files else "The fix is in place.", finish, tag) if finish else None


def _string_or_strings(schema: Any) -> Optional[bool]:
    """``False`` for a string schema, ``True`` for an array of strings, else ``None``."""
    if not isinstance(schema, Mapping):
        return None
    if schema.get("type") == "string":
        return False
    items = schema.get("items")
    if schema.get("type") == "array" and isinstance(items, Mapping) and items.get("type") == "string":
        return True
    return None


def find_command_tool(tools: Iterable[Any]) -> Optional[tuple[str, str, bool]]:
    """A shell tool to write files with ``printf`` commands: ``(name, command_property, takes_a_list)`` or ``None``.

    Unlike :func:`find_shell_tool` (one script, or one argv), a list here is a list of
    commands, each run on its own.

    A tool qualifies when a command-like property (a string, or a list of strings) is
    all it requires, besides perhaps a free-text ``description`` (Copilot CLI's ``bash``):
    Cline's ``run_commands``, the usual ``bash {command}``.
    """
    for tool in tools or ():
        function = tool.get("function") if isinstance(tool, Mapping) and tool.get("type", "function") == "function" else None
        params = function.get("parameters") if isinstance(function, Mapping) else None
        if not isinstance(params, Mapping) or not isinstance(params.get("properties"), Mapping) or not function.get("name"):
            continue
        for key, schema in params["properties"].items():
            takes_list = _string_or_strings(schema)
            if str(key).lower() in _COMMAND_LIST_KEYS and takes_list is not None and set(params.get("required") or ()) <= {key, "description"}:
                return str(function["name"]), str(key), takes_list
    return None


def printf_commands(files: Mapping[str, str], cwd: Optional[str] = None) -> list[str]:
    """One ``sh`` command per file that writes it byte for byte (``printf '%s'``, parents made first)."""
    commands = []
    for path, content in files.items():
        target = posixpath.join(cwd, path) if cwd else path
        folder = posixpath.dirname(target)
        make = f"mkdir -p {shlex.quote(folder)} && " if folder else ""
        commands.append(f"{make}printf '%s' {shlex.quote(content)} > {shlex.quote(target)}")
    return commands


def command_tool_arguments(files: Mapping[str, str], tool: tuple[str, str, bool], cwd: Optional[str],
                           tools: Iterable[Any]) -> dict:
    """The arguments of one call to ``tool`` (:func:`find_command_tool`) that writes ``files``."""
    name, key, takes_list = tool
    commands = printf_commands(files, cwd)
    arguments: dict = {key: commands if takes_list else " && ".join(commands)}
    schema = next((t["function"].get("parameters") or {} for t in tools if (t.get("function") or {}).get("name") == name), {})
    if "description" in (schema.get("required") or ()):  # only when asked for: Cline's schema allows no extras
        arguments["description"] = "Write the changed files"
    return arguments
