"""The scripted model server over real HTTP: behaviours, formats, streaming, usage, routing, faults."""

from __future__ import annotations

import http.client
import json
import re
import time
from urllib.parse import urlsplit

import openai
import pytest

from cab_core.modelserver import (
    FAULTS,
    REFUSAL,
    VANDAL_FILE,
    ScriptContext,
    ScriptedModelServer,
    find_write_tool,
    plan_reply,
    usage_for,
)
from cab_core.tokens import estimate_prompt_tokens, estimate_tokens

CALC_OLD = "def add(a, b):\n    return a - b\n"
CALC_NEW = "def add(a, b):\n    return a + b\n"
TEST_OLD = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"

CTX = ScriptContext(
    task_id="demo/add",
    solution_files={"calc.py": CALC_NEW, "util/helpers.py": "HELP = 1\n"},
    test_files={"tests/test_calc.py": TEST_OLD},
    prompt="Fix add().",
)


def _tool(name, **props):
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"the {name} tool",
            "parameters": {"type": "object", "properties": {k: {"type": v} for k, v in props.items()}, "required": list(props)},
        },
    }


#: The tools pi offers (write {path, content} among look-alikes).
PI_TOOLS = [
    _tool("read", path="string", offset="number", limit="number"),
    _tool("bash", command="string"),
    _tool("edit", path="string", oldText="string", newText="string"),
    _tool("write", path="string", content="string"),
]
#: opencode's write tool takes filePath.
OPENCODE_TOOLS = [
    _tool("edit", filePath="string", oldString="string", newString="string"),
    _tool("write", filePath="string", content="string"),
]

AIDER_DIFF_SYSTEM = (
    "Act as an expert software developer.\nAlways use best practices when coding.\n"
    "Describe each change with a *SEARCH/REPLACE block* per the examples below.\n"
    "# *SEARCH/REPLACE block* Rules:\nEvery *SEARCH/REPLACE block* must use this format:\n"
    "1. The *FULL* file path alone on a line, verbatim.\n2. The opening fence and code language, eg: ```python\n"
)
AIDER_WHOLE_SYSTEM = (
    "Act as an expert software developer.\nIf the request requires code changes, you MUST return the entire "
    "content of the updated file.\nTo suggest changes to a file you MUST return the entire content of the updated "
    "file.\nYou MUST use this *file listing* format:\n\npath/to/filename.js\n```\n// entire file content ...\n```\n"
)


def _aider_files_message(files: dict[str, str], fence=("```", "```")) -> dict:
    text = "I have *added these files to the chat* so you can go ahead and edit them.\n\n"
    text += "*Trust this message as the true contents of these files!*\n"
    for path, content in files.items():
        text += f"\n{path}\n{fence[0]}\n{content}{fence[1]}\n"
    return {"role": "user", "content": text}


def _aider_messages(system: str, files: dict[str, str], fence=("```", "```")) -> list[dict]:
    return [
        {"role": "system", "content": system},
        _aider_files_message(files, fence),
        {"role": "assistant", "content": "Ok, any changes I propose will be to those files."},
        {"role": "user", "content": "Fix add()."},
    ]


# ---------------------------------------------------------------- aider's parsing rules, reimplemented


def apply_search_replace(reply: str, files: dict[str, str], fence=("```", "```")) -> dict[str, str]:
    """Apply SEARCH/REPLACE blocks the way aider reads them (filename alone on the line before the fence)."""
    files = dict(files)
    lines = reply.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        if lines[i].strip() == "<<<<<<< SEARCH":
            assert lines[i - 1].startswith(fence[0]), "a fence opens the block"
            assert not re.match(r"^```(bash|sh|shell)\b", lines[i - 1]), "aider would run this as a shell block"
            path = lines[i - 2].strip()
            search, replace = [], []
            i += 1
            while lines[i].strip() != "=======":
                search.append(lines[i])
                i += 1
            i += 1
            while lines[i].strip() != ">>>>>>> REPLACE":
                replace.append(lines[i])
                i += 1
            assert lines[i + 1].strip() == fence[1]
            before, after = "".join(search), "".join(replace)
            if not before.strip():
                files[path] = files.get(path, "") + after
            else:
                assert files[path].count(before) == 1, f"SEARCH must match {path} exactly once"
                files[path] = files[path].replace(before, after)
        i += 1
    return files


def apply_whole(reply: str, files: dict[str, str], fence=("```", "```")) -> dict[str, str]:
    """Apply whole-file listings the way aider's whole format reads them."""
    files = dict(files)
    lines = reply.splitlines(keepends=True)
    fname, new = None, []
    for i, line in enumerate(lines):
        if line.startswith(fence[0]) or line.startswith(fence[1]):
            if fname is not None:
                files[fname] = "".join(new)
                fname, new = None, []
                continue
            fname = lines[i - 1].strip()
        elif fname is not None:
            new.append(line)
    return files


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def server():
    with ScriptedModelServer(CTX) as srv:
        yield srv


def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="dummy", max_retries=0, timeout=10)


def chat(base_url: str, **request):
    """One chat completion through the openai SDK."""
    return client(base_url).chat.completions.create(**request)


def raw_post(url: str, body: dict) -> tuple[int, dict, str]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", parts.path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read().decode()
    finally:
        conn.close()


def sse_chunks(text: str) -> list:
    events = [e[len("data: ") :] for e in text.split("\n\n") if e.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def user(text="Fix add()."):
    return [{"role": "user", "content": text}]


# ---------------------------------------------------------------- listing, errors, routing


def test_models_lists_every_behaviour(server):
    ids = [m.id for m in client(server.base_url).models.list()]
    assert ids == [f"scripted/{b}" for b in ("oracle", "noop", "refuse", "vandal", "loop", *FAULTS)]


def test_unknown_model_is_404_naming_it_and_the_available_ones(server):
    status, _, text = raw_post(server.base_url + "/chat/completions", {"model": "scripted/genius", "messages": user()})
    assert status == 404
    error = json.loads(text)["error"]
    assert "scripted/genius" in error["message"] and "scripted/oracle" in error["message"]
    assert error["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        chat(server.base_url, model="genius", messages=user())


@pytest.mark.parametrize("model", ["scripted/noop", "noop", "openai/scripted/noop"])
def test_behaviour_is_the_last_segment_of_the_model_name(server, model):
    reply = chat(server.base_url, model=model, messages=user())
    assert reply.choices[0].message.content == "done"
    assert reply.model == model


def test_register_routes_each_url_to_its_own_task(server):
    other = ScriptContext(task_id="demo/other", solution_files={"other.py": "X = 2\n"})
    url_a, url_b = server.register(CTX), server.register(other)
    try:
        assert url_a.startswith(server.url + "/t/") and url_a.endswith("/v1")
        for url, expected in ((url_a, "calc.py"), (url_b, "other.py"), (server.base_url, "calc.py")):
            reply = chat(url, model="scripted/oracle", messages=user(), tools=PI_TOOLS)
            paths = [json.loads(c.function.arguments)["path"] for c in reply.choices[0].message.tool_calls]
            assert paths[0] == expected
    finally:
        server.unregister(url_b)
    with pytest.raises(openai.NotFoundError):
        client(url_b).chat.completions.create(model="scripted/oracle", messages=user())
    server.unregister(url_a.split("/t/")[1].split("/")[0])  # by token
    with pytest.raises(openai.NotFoundError):
        client(url_a).models.list()


@pytest.mark.parametrize("named", ["scripted/oracle", "scripted/fail500", "scripted/hang", "gpt-4o", ""])
def test_a_route_registered_with_a_model_answers_as_that_model_whatever_the_request_names(server, named):
    url = server.register(CTX, model="scripted/noop")
    try:
        status, _, text = raw_post(url + "/chat/completions", {"model": named, "messages": user()})
    finally:
        server.unregister(url)
    assert status == 200 and json.loads(text)["choices"][0]["message"]["content"] == "done"


def test_a_fault_comes_from_the_routes_model_not_the_request(server):
    url = server.register(CTX, model="scripted/fail500")
    try:
        status, _, text = raw_post(url + "/chat/completions", {"model": "scripted/oracle", "messages": user()})
    finally:
        server.unregister(url)
    assert status == 500 and "fail500" in text


# ---------------------------------------------------------------- oracle with tools


def test_write_tool_is_found_by_its_schema():
    assert find_write_tool(PI_TOOLS) == ("write", "path", "content")
    assert find_write_tool(OPENCODE_TOOLS) == ("write", "filePath", "content")
    assert find_write_tool([_tool("create_file", file_path="string", file_text="string")]) == ("create_file", "file_path", "file_text")
    assert find_write_tool([_tool("edit", path="string", oldText="string", newText="string")]) is None


def test_oracle_calls_the_write_tool_then_finishes(server):
    api = client(server.base_url)
    reply = api.chat.completions.create(model="scripted/oracle", messages=user(), tools=PI_TOOLS)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == ["write", "write"]
    written = {json.loads(c.function.arguments)["path"]: json.loads(c.function.arguments)["content"] for c in calls}
    assert written == CTX.solution_files
    assert len({c.id for c in calls}) == 2

    followup = user() + [
        {"role": "assistant", "content": None, "tool_calls": [c.model_dump() for c in calls]},
        *({"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in calls),
    ]
    final = api.chat.completions.create(model="scripted/oracle", messages=followup, tools=PI_TOOLS)
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.tool_calls is None
    assert final.choices[0].message.content == "Done: updated calc.py, util/helpers.py."


@pytest.mark.parametrize(
    "system, tools, key",
    [
        ("You are pi.\nCurrent working directory: /work/cell-1\n", PI_TOOLS, "path"),
        ("You are opencode.\n<env>\n  Working directory: /work/cell-1\n  Platform: linux\n</env>", OPENCODE_TOOLS, "filePath"),
    ],
)
def test_oracle_uses_absolute_paths_when_the_prompt_names_a_working_directory(server, system, tools, key):
    messages = [{"role": "system", "content": system}] + user()
    reply = chat(server.base_url, model="scripted/oracle", messages=messages, tools=tools)
    paths = [json.loads(c.function.arguments)[key] for c in reply.choices[0].message.tool_calls]
    assert paths == ["/work/cell-1/calc.py", "/work/cell-1/util/helpers.py"]


def test_oracle_streams_tool_calls_in_openai_delta_format(server):
    status, _, text = raw_post(
        server.base_url + "/chat/completions", {"model": "scripted/oracle", "messages": user(), "tools": PI_TOOLS, "stream": True}
    )
    assert status == 200
    chunks = sse_chunks(text)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    starts = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if "id" in (c["choices"][0]["delta"].get("tool_calls") or [{}])[0]]
    assert [(s["index"], s["function"]["name"], s["type"]) for s in starts] == [(0, "write", "function"), (1, "write", "function")]
    pieces = [c for c in chunks if c["choices"][0]["delta"].get("tool_calls")]
    assert len(pieces) > 4  # arguments arrive in several pieces
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"

    # The SDK puts the pieces back together.
    stream = chat(server.base_url, model="scripted/oracle", messages=user(), tools=PI_TOOLS, stream=True)
    args: dict[int, str] = {}
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or ():
            args[call.index] = args.get(call.index, "") + (call.function.arguments or "")
    assert {json.loads(a)["path"]: json.loads(a)["content"] for a in args.values()} == CTX.solution_files


# ---------------------------------------------------------------- oracle without tools (aider)


def test_oracle_answers_aider_with_search_replace_blocks_that_apply(server):
    files = {"calc.py": CALC_OLD}
    reply = chat(server.base_url, model="scripted/oracle", messages=_aider_messages(AIDER_DIFF_SYSTEM, files))
    text = reply.choices[0].message.content
    assert "calc.py\n```python\n<<<<<<< SEARCH\n" + CALC_OLD + "=======\n" + CALC_NEW + ">>>>>>> REPLACE\n```\n" in text
    # util/helpers.py is new: an empty SEARCH creates it.
    assert "util/helpers.py\n```python\n<<<<<<< SEARCH\n=======\nHELP = 1\n>>>>>>> REPLACE\n```" in text
    assert apply_search_replace(text, files) == CTX.solution_files


def test_search_replace_uses_the_fence_aider_chose(server):
    readme_old = "Run:\n```\nmake\n```\n"
    ctx = ScriptContext(solution_files={"README.md": "Run:\n```\nmake test\n```\n"})
    url = server.register(ctx)
    try:
        fence = ("<source>", "</source>")
        files = {"README.md": readme_old}
        reply = chat(url, model="oracle", messages=_aider_messages(AIDER_DIFF_SYSTEM, files, fence))
        text = reply.choices[0].message.content
        assert "README.md\n<source>markdown\n<<<<<<< SEARCH\n" in text
        assert apply_search_replace(text, files, fence) == ctx.solution_files
    finally:
        server.unregister(url)


def test_oracle_answers_aider_whole_format_with_file_listings(server):
    files = {"calc.py": CALC_OLD}
    reply = chat(server.base_url, model="scripted/oracle", messages=_aider_messages(AIDER_WHOLE_SYSTEM, files))
    text = reply.choices[0].message.content
    assert "calc.py\n```\n" + CALC_NEW + "```\n" in text
    assert "<<<<<<<" not in text
    assert apply_whole(text, files) == CTX.solution_files


def test_search_replace_falls_back_to_listing_when_the_file_is_not_shown():
    # The repo map mentions calc.py but its content is not in the chat.
    messages = [{"role": "system", "content": AIDER_DIFF_SYSTEM}, {"role": "user", "content": "Repo map:\ncalc.py:\n⋮\nFix add()."}]
    text = plan_reply("oracle", ScriptContext(solution_files={"calc.py": CALC_NEW}), {"messages": messages}).content
    assert "calc.py\n```\n" + CALC_NEW + "```\n" in text


def test_an_empty_original_file_gets_an_empty_search_section():
    messages = _aider_messages(AIDER_DIFF_SYSTEM, {"empty.py": ""})
    text = plan_reply("oracle", ScriptContext(solution_files={"empty.py": "X = 1\n"}), {"messages": messages}).content
    assert "empty.py\n```python\n<<<<<<< SEARCH\n=======\nX = 1\n>>>>>>> REPLACE\n```\n" in text
    assert apply_search_replace(text, {"empty.py": ""}) == {"empty.py": "X = 1\n"}


def test_a_follow_up_turn_after_the_edits_changes_nothing(server):
    files = dict(CTX.solution_files)  # aider shows the files as they are now: already solved
    reply = chat(server.base_url, model="scripted/oracle", messages=_aider_messages(AIDER_DIFF_SYSTEM, files))
    assert "SEARCH" not in reply.choices[0].message.content
    assert reply.choices[0].message.content.startswith("Done")


# ---------------------------------------------------------------- noop, refuse, vandal


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("behaviour, expected", [("noop", "done"), ("refuse", REFUSAL)])
def test_noop_and_refuse(server, behaviour, expected, stream):
    api = client(server.base_url)
    if stream:
        chunks = list(api.chat.completions.create(model=f"scripted/{behaviour}", messages=user(), tools=PI_TOOLS, stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert all(not c.choices[0].delta.tool_calls for c in chunks if c.choices)
    else:
        reply = api.chat.completions.create(model=f"scripted/{behaviour}", messages=user(), tools=PI_TOOLS)
        assert reply.choices[0].message.tool_calls is None
        text = reply.choices[0].message.content
    assert text == expected
    if behaviour == "refuse":
        assert "can't help" in text and "won't write code" in text


def test_vandal_writes_an_extra_file_and_guts_a_test(server):
    reply = chat(server.base_url, model="scripted/vandal", messages=user(), tools=PI_TOOLS)
    written = dict(
        (args["path"], args["content"]) for args in (json.loads(c.function.arguments) for c in reply.choices[0].message.tool_calls)
    )
    assert written["calc.py"] == CALC_NEW
    assert VANDAL_FILE in written
    assert written["tests/test_calc.py"] == "def test_ok():\n    assert True\n"


def test_vandal_reaches_a_test_file_aider_was_not_shown(server):
    files = {"calc.py": CALC_OLD}
    reply = chat(server.base_url, model="scripted/vandal", messages=_aider_messages(AIDER_DIFF_SYSTEM, files))
    applied = apply_search_replace(reply.choices[0].message.content, {**files, "tests/test_calc.py": TEST_OLD})
    assert applied["tests/test_calc.py"] == "def test_ok():\n    assert True\n"
    assert applied[VANDAL_FILE].startswith("vandalised")
    assert applied["calc.py"] == CALC_NEW


# ---------------------------------------------------------------- usage and streaming


def test_usage_is_present_and_honest(server):
    messages = user("Fix add() please, and keep the tests green.")
    reply = chat(server.base_url, model="scripted/oracle", messages=messages, tools=PI_TOOLS)
    usage = reply.usage
    assert usage.prompt_tokens == estimate_prompt_tokens(messages, PI_TOOLS)
    args = [c.function for c in reply.choices[0].message.tool_calls]
    assert usage.completion_tokens == sum(estimate_tokens(f.name) + estimate_tokens(f.arguments) for f in args)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    # More prompt, more tokens.
    longer = chat(server.base_url, model="scripted/noop", messages=user("x " * 500))
    assert longer.usage.prompt_tokens > 300


def test_stream_usage_only_when_include_usage_is_set(server):
    body = {"model": "scripted/refuse", "messages": user(), "stream": True}
    _, _, plain = raw_post(server.base_url + "/chat/completions", body)
    assert '"usage"' not in plain
    assert all(c["choices"] for c in sse_chunks(plain))

    _, _, with_usage = raw_post(server.base_url + "/chat/completions", {**body, "stream_options": {"include_usage": True}})
    chunks = sse_chunks(with_usage)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["usage"] == usage_for(body, plan_reply("refuse", CTX, body))
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    assert text == REFUSAL
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) >= len(REFUSAL) // 20


def test_chunks_are_flushed_as_they_are_generated():
    with ScriptedModelServer(CTX, chunk_delay_s=0.03) as srv:
        stream = chat(srv.base_url, model="scripted/refuse", messages=user(), stream=True)
        t0 = time.perf_counter()
        arrivals = [time.perf_counter() - t0 for _ in stream]
    assert len(arrivals) > 8
    assert arrivals[0] < arrivals[-1] - 0.15


# ---------------------------------------------------------------- faults


def test_queued_faults_answer_the_next_requests_then_normal_service_resumes():
    with ScriptedModelServer(CTX, faults=["ratelimit", "fail500"]) as srv:
        url = srv.base_url + "/chat/completions"
        status, headers, text = raw_post(url, {"model": "scripted/noop", "messages": user()})
        assert status == 429 and headers["Retry-After"] == "1"
        assert json.loads(text)["error"]["code"] == "rate_limit_exceeded"
        status, _, _ = raw_post(url, {"model": "scripted/noop", "messages": user()})
        assert status == 500
        status, _, text = raw_post(url, {"model": "scripted/noop", "messages": user()})
        assert status == 200 and json.loads(text)["choices"][0]["message"]["content"] == "done"
        with pytest.raises(ValueError, match="unknown fault 'boom'"):
            srv.inject_faults("boom")


def test_fault_models(server):
    url = server.base_url + "/chat/completions"
    status, _, text = raw_post(url, {"model": "scripted/garbage", "messages": user()})
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(text)
    status, _, _ = raw_post(url, {"model": "scripted/fail500", "messages": user()})
    assert status == 500
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        raw_post(url, {"model": "scripted/drop", "messages": user(), "stream": True})


def test_stop_releases_a_hanging_request():
    srv = ScriptedModelServer().start()
    api = openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        api.chat.completions.create(model="scripted/hang", messages=user())
    t0 = time.perf_counter()
    srv.stop()
    assert time.perf_counter() - t0 < 2.5
    srv.stop()  # idempotent


# ---------------------------------------------------------------- token estimate


def test_token_estimate():
    assert estimate_tokens("") == 0
    assert estimate_tokens("a") == 1
    words = estimate_tokens("the quick brown fox jumps over the lazy dog")
    assert 9 <= words <= 14
    assert estimate_tokens("x" * 400) >= 50  # long identifiers still count by bytes
    assert estimate_prompt_tokens([{"role": "user", "content": [{"type": "text", "text": "hello world"}]}]) > estimate_prompt_tokens([])
