"""The oracle answers through the agent's shell tool when that is its only way to write a whole file.

Cline's ``editor`` needs the exact old text to change an existing file, so an agent like
it gets the solution written by its shell tool (``run_commands``: a list of commands;
others take one ``command`` string).  The commands are run here by a real ``sh`` to
prove they write every byte, quotes, missing final newline and new folders included.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from cab_core.endpoint.scripted.planning import ScriptContext, find_shell_tool, plan_reply

FILES = {
    "calc.py": "def add(a, b):\n    return a + b  # it's 'fixed' \"now\" $HOME `x` \\n\n",
    "deep/new dir/notes.txt": "no final newline; EOF\nEOF",
}
CTX = ScriptContext(task_id="demo/add", solution_files=FILES)


def _tool(name, properties, required):
    return {"type": "function", "function": {"name": name, "description": name,
                                             "parameters": {"type": "object", "properties": properties, "required": required}}}


#: Cline 3's tools: an editor that needs old_text for an existing file, a list-of-commands shell.
CLINE_TOOLS = [
    _tool("read_files", {"files": {"type": "array", "items": {"type": "object"}}}, ["files"]),
    _tool("run_commands", {"commands": {"type": "array", "items": {"type": "string"}}}, ["commands"]),
    _tool("editor", {"path": {"type": "string"}, "old_text": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                     "new_text": {"type": "string"}}, ["path", "new_text"]),
    _tool("team_send_message", {"toAgentId": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"}},
          ["toAgentId", "subject", "body"]),
]
BASH_TOOLS = [_tool("bash", {"command": {"type": "string"}, "timeout": {"type": "number"}}, ["command"])]
#: Copilot CLI's: ``create`` refuses an existing path; ``bash`` also requires a description.
COPILOT_TOOLS = [
    _tool("bash", {"command": {"type": "string"}, "description": {"type": "string"}, "mode": {"type": "string"}},
          ["command", "description"]),
    _tool("create", {"path": {"type": "string"}, "file_text": {"type": "string"}}, ["path", "file_text"]),
    _tool("edit", {"path": {"type": "string"}, "old_str": {"type": "string"}, "new_str": {"type": "string"}}, ["path"]),
]


def _run(commands: list[str], cwd) -> None:
    for command in commands:
        subprocess.run(["sh", "-c", command], cwd=cwd, check=True)


def _written(root) -> dict:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_shell_tools_are_found_by_their_schema():
    assert find_shell_tool(CLINE_TOOLS) == ("run_commands", "commands", True)
    assert find_shell_tool(BASH_TOOLS) == ("bash", "command", False)
    assert find_shell_tool(COPILOT_TOOLS) == ("bash", "command", False)
    # A tool that needs more than a command is not a shell.
    assert find_shell_tool([_tool("schedule", {"command": {"type": "string"}, "at": {"type": "string"}}, ["command", "at"])]) is None


@pytest.mark.parametrize("tools, key", [(CLINE_TOOLS, "commands"), (BASH_TOOLS, "command"), (COPILOT_TOOLS, "command")])
def test_oracle_writes_every_byte_through_the_shell_tool(tmp_path, tools, key):
    reply = plan_reply("oracle", CTX, {"messages": [{"role": "user", "content": "fix it"}], "tools": tools})
    assert reply.finish_reason == "tool_calls" and reply.tool_calls
    commands = []
    for call in reply.tool_calls:
        value = json.loads(call["arguments"])[key]
        commands += value if isinstance(value, list) else [value]
    _run(commands, tmp_path)
    assert _written(tmp_path) == FILES


def test_shell_paths_are_absolute_when_the_prompt_names_the_working_directory(tmp_path):
    messages = [{"role": "system", "content": f"<env>\n4. Working Directory: {tmp_path}\n</env>"},
                {"role": "user", "content": "fix it"}]
    reply = plan_reply("oracle", CTX, {"messages": messages, "tools": CLINE_TOOLS})
    commands = json.loads(reply.tool_calls[0]["arguments"])["commands"]
    assert all(str(tmp_path) in c for c in commands)
    _run(commands, "/")
    assert _written(tmp_path) == FILES


def test_after_the_shell_ran_the_oracle_finishes():
    first = plan_reply("oracle", CTX, {"messages": [{"role": "user", "content": "fix it"}], "tools": CLINE_TOOLS})
    call = first.tool_calls[0]
    messages = [{"role": "user", "content": "fix it"},
                {"role": "assistant", "content": None, "tool_calls": [{"id": call["id"], "type": "function",
                                                                       "function": {"name": call["name"], "arguments": call["arguments"]}}]},
                {"role": "tool", "tool_call_id": call["id"], "content": "ok"}]
    final = plan_reply("oracle", CTX, {"messages": messages, "tools": CLINE_TOOLS})
    assert final.tool_calls == () and "calc.py" in final.content


def test_a_write_tool_still_wins_over_the_shell():
    tools = BASH_TOOLS + [_tool("write", {"path": {"type": "string"}, "content": {"type": "string"}}, ["path", "content"])]
    reply = plan_reply("oracle", CTX, {"messages": [{"role": "user", "content": "fix it"}], "tools": tools})
    assert {c["name"] for c in reply.tool_calls} == {"write"}


def test_noop_never_uses_the_shell():
    reply = plan_reply("noop", CTX, {"messages": [{"role": "user", "content": "fix it"}], "tools": CLINE_TOOLS})
    assert reply.tool_calls == () and reply.content == "done"


def test_a_create_tool_gives_way_to_the_shell_which_can_overwrite():
    reply = plan_reply("oracle", CTX, {"messages": [{"role": "user", "content": "fix it"}], "tools": COPILOT_TOOLS})
    assert [c["name"] for c in reply.tool_calls] == ["bash"]
    assert json.loads(reply.tool_calls[0]["arguments"])["description"]


def test_no_description_where_the_schema_does_not_ask_for_one():
    reply = plan_reply("oracle", CTX, {"messages": [{"role": "user", "content": "fix it"}], "tools": CLINE_TOOLS})
    assert set(json.loads(reply.tool_calls[0]["arguments"])) == {"commands"}
