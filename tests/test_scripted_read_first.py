"""The oracle writes through tools that refuse to overwrite a file it has not read (Qwen Code, Claude Code)."""

from __future__ import annotations

import json

from cab_core.endpoint.scripted.planning import ScriptContext, plan_reply
from cab_core.endpoint.scripted.read_first import READ_FIRST, find_read_tool


def _tool(name, **props):
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {
        k: {"type": "string"} for k in props}}}}


TOOLS = [_tool("read_file", file_path=1, offset=1), _tool("write_file", file_path=1, content=1), _tool("run_shell_command", command=1)]
SYSTEM = {"role": "system", "content": "Current working directory: /w"}
CTX = ScriptContext(solution_files={"a.py": "A = 1\n", "new.py": "N = 2\n"})
QWEN_REFUSAL = ("File /w/a.py has not been read in this session. Use the read_file tool first to load the current content "
                "(read the full file — overwriting replaces every byte) before overwriting it.")


def _assistant(reply):
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}} for c in reply.tool_calls]}


def _answer(messages, results):
    reply = plan_reply("oracle", CTX, {"messages": messages, "tools": TOOLS})
    if not reply.tool_calls:
        return reply, messages
    messages = [*messages, _assistant(reply)]
    for call in reply.tool_calls:
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": results(call)})
    return reply, messages


def _args(reply):
    return [(c["name"], json.loads(c["arguments"])) for c in reply.tool_calls]


def test_a_write_refused_until_read_is_read_then_written_again_once():
    messages = [SYSTEM, {"role": "user", "content": "fix it"}]
    first, messages = _answer(messages, lambda c: QWEN_REFUSAL if "/w/a.py" in c["arguments"] else "ok")
    assert [a["file_path"] for _, a in _args(first)] == ["/w/a.py", "/w/new.py"]
    read, messages = _answer(messages, lambda c: "A = 0\n")
    assert _args(read) == [("read_file", {"file_path": "/w/a.py"})]
    again, messages = _answer(messages, lambda c: "ok")
    assert _args(again) == [("write_file", {"file_path": "/w/a.py", "content": "A = 1\n"})]
    ids = [c["id"] for r in (first, read, again) for c in r.tool_calls]
    assert len(ids) == len(set(ids)), "tool call ids are unique in the session"
    done, _ = _answer(messages, lambda c: "ok")
    assert done.tool_calls == () and done.content


def test_writes_that_succeed_finish_as_before():
    messages = [SYSTEM, {"role": "user", "content": "fix it"}]
    _, messages = _answer(messages, lambda c: "Successfully wrote the file.")
    done, _ = _answer(messages, lambda c: "ok")
    assert done.tool_calls == () and done.content


def test_a_write_refused_again_after_the_read_does_not_loop():
    messages = [SYSTEM, {"role": "user", "content": "fix it"}]
    replies = []
    for _ in range(6):
        reply, messages = _answer(messages, lambda c: QWEN_REFUSAL)
        replies.append(reply)
        if not reply.tool_calls:
            break
    assert [bool(r.tool_calls) for r in replies] == [True, True, True, False]


def test_refusals_are_recognised_in_each_agents_words():
    assert READ_FIRST.search(QWEN_REFUSAL)
    assert READ_FIRST.search("File has not been read yet. Read it first before writing to it.")
    assert READ_FIRST.search("File /w/a.py has been modified since you last read it. Re-read it before editing it.")
    assert not READ_FIRST.search("Successfully overwrote file: /w/a.py.")


def test_a_read_tool_is_found_by_its_shape():
    keys = (("path", "file_path"), ("content",))
    assert find_read_tool(TOOLS, *keys) == ("read_file", "file_path")
    assert find_read_tool([_tool("write_file", file_path=1, content=1)], *keys) is None
    assert find_read_tool([_tool("open", path=1)], *keys) is None
