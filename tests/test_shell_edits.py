"""The oracle edits through a shell when that is all the agent has (Codex's exec_command, bash-only agents).

The script it writes is run by a real ``sh`` here: what lands on disk must be the
solution byte for byte, whatever the files hold (quotes, ``$``, backticks, the
here-document's own delimiter, no final newline).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from cab_core.endpoint.scripted import shell
from cab_core.modelserver import ScriptContext, plan_reply

CALC_NEW = "def add(a, b):\n    return a + b\n"
CTX = ScriptContext(task_id="calc", solution_files={"calc.py": CALC_NEW}, prompt="Fix add().")
EXEC_COMMAND = {"type": "function", "function": {"name": "exec_command", "parameters": {
    "type": "object", "properties": {"cmd": {"type": "string"}, "workdir": {"type": "string"}}, "required": ["cmd"]}}}
ARGV_SHELL = {"type": "function", "function": {"name": "shell", "parameters": {
    "type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}}, "required": ["command"]}}}
#: How mini-swe-agent's text-based prompt asks for commands.
ONE_BLOCK_SYSTEM = ("Your response must contain exactly ONE bash code block with ONE command. "
                    "When you are done, issue: `echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`")


@pytest.mark.parametrize("content", [
    CALC_NEW,
    "no final newline",
    "quotes ' \" and $HOME `id` \\n stay\n",
    "a line that is the delimiter:\nCAB_EOF\nand after\n",
    "",
    "\n\n",
])
def test_the_script_writes_each_file_byte_for_byte(tmp_path, content):
    files = {"calc.py": content, "deep/er/mod.rs": content + "x"}
    subprocess.run(["sh", "-c", shell.write_script(files)], cwd=tmp_path, check=True)
    for rel, want in files.items():
        assert (tmp_path / rel).read_bytes() == want.encode()


def test_a_codex_style_exec_command_gets_the_script_then_the_final_message():
    body = {"messages": [{"role": "user", "content": "Fix add() in calc.py."}], "tools": [EXEC_COMMAND]}
    (call,) = plan_reply("oracle", CTX, body).tool_calls
    assert call["name"] == "exec_command"
    assert json.loads(call["arguments"]) == {"cmd": shell.write_script({"calc.py": CALC_NEW})}
    answered = body["messages"] + [
        {"role": "assistant", "content": None, "tool_calls": [{"id": call["id"], "type": "function",
                                                               "function": {"name": call["name"], "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": call["id"], "content": ""}]
    reply = plan_reply("oracle", CTX, {**body, "messages": answered})
    assert not reply.tool_calls and "calc.py" in reply.content


def test_an_argv_shell_tool_gets_bash_lc():
    body = {"messages": [{"role": "user", "content": "Fix it."}], "tools": [ARGV_SHELL]}
    (call,) = plan_reply("oracle", CTX, body).tool_calls
    assert json.loads(call["arguments"])["command"][:2] == ["bash", "-lc"]


def test_a_write_tool_still_wins_over_a_shell_tool():
    write = {"type": "function", "function": {"name": "write", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}}}}
    body = {"messages": [{"role": "user", "content": "Fix it."}], "tools": [EXEC_COMMAND, write]}
    assert plan_reply("oracle", CTX, body).tool_calls[0]["name"] == "write"


def test_a_tool_that_is_not_a_shell_is_not_taken_for_one():
    search = {"type": "function", "function": {"name": "search_code", "parameters": {
        "type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}
    assert shell.find_shell_tool([search]) is None
    assert shell.find_shell_tool([EXEC_COMMAND]) == ("exec_command", "cmd", False)


def _block(text):
    """The one fenced block of a reply: ``(info string, command)``."""
    head, _, rest = text.partition("```")
    tag, _, rest = rest.partition("\n")
    return tag, rest.rsplit("```", 1)[0].rstrip("\n")


def test_a_bash_only_agent_gets_the_script_in_one_block_then_its_finish_command():
    system = ONE_BLOCK_SYSTEM + "\n```mswea_bash_command\nls -la\n```\n"
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "Please solve this issue: fix add()"}]
    first = plan_reply("oracle", CTX, {"messages": messages})
    assert first.content.startswith("THOUGHT:") and first.content.count("```") == 2
    assert _block(first.content) == ("mswea_bash_command", shell.write_script({"calc.py": CALC_NEW}))
    after = messages + [{"role": "assistant", "content": first.content},
                        {"role": "user", "content": "<returncode>0</returncode>\n<output>\n</output>"}]
    second = plan_reply("oracle", CTX, {"messages": after})
    assert _block(second.content) == ("mswea_bash_command", "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")


@pytest.mark.parametrize("behaviour", ["noop", "refuse"])
def test_noop_and_refuse_end_a_bash_only_agents_run_at_once(behaviour):
    messages = [{"role": "system", "content": ONE_BLOCK_SYSTEM}, {"role": "user", "content": "fix add()"}]
    reply = plan_reply(behaviour, CTX, {"messages": messages})
    assert _block(reply.content) == ("bash", "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")
    assert ("can't help" in reply.content) == (behaviour == "refuse")


def test_a_tool_less_agent_that_never_asks_for_a_shell_block_still_gets_text_edits():
    messages = [{"role": "system", "content": "Reply with SEARCH/REPLACE blocks."}, {"role": "user", "content": "fix"}]
    assert "<<<<<<< SEARCH" in plan_reply("oracle", CTX, {"messages": messages}).content
    assert plan_reply("noop", CTX, {"messages": messages}).content == "done"


BASH_TOOL = {"type": "function", "function": {"name": "bash", "parameters": {
    "type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}


@pytest.mark.parametrize("behaviour", ["oracle", "noop", "refuse"])
def test_a_shell_tool_agent_whose_prompt_names_a_finish_command_ends_with_it(behaviour):
    """mini-swe-agent 2.x: every reply must call ``bash``; the run ends on the finish command."""
    messages = [{"role": "system", "content": "You can interact with a computer."},
                {"role": "user", "content": "Fix add(). Finish by issuing `echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`."}]
    body = {"messages": messages, "tools": [BASH_TOOL]}
    reply = plan_reply(behaviour, CTX, body)
    if behaviour == "oracle":
        assert json.loads(reply.tool_calls[0]["arguments"]) == {"command": shell.write_script({"calc.py": CALC_NEW})}
        call = reply.tool_calls[0]
        body["messages"] = messages + [
            {"role": "assistant", "content": None, "tool_calls": [{"id": call["id"], "type": "function",
                                                                   "function": {"name": "bash", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": call["id"], "content": '{"returncode": 0, "output": ""}'}]
        reply = plan_reply(behaviour, CTX, body)
    assert json.loads(reply.tool_calls[0]["arguments"]) == {"command": "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"}
    assert ("can't help" in reply.content) == (behaviour == "refuse")
