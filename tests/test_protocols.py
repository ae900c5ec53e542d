"""Responses, Anthropic Messages and Gemini through the recording proxy, driven by the official SDKs.

Each test runs the real client library (``openai``, ``anthropic``, ``google-genai``)
against a :class:`RecordingProxy` in front of the :class:`ScriptedModelServer`:
the oracle answers with a call to the tool the request declares, the proxy records
the call with the protocol's own token counts, a cassette replays it with the
endpoint gone, and the real key reaches the upstream only in the protocol's header.
"""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from aiohttp import web
from google import genai
from google.genai import types as gtypes

from cab_core.cassette import Cassette
from cab_core.endpoint import ProxyLimits, protocol_for
from cab_core.modelserver import ScriptContext, ScriptedModelServer, codex_patch, plan_reply
from cab_core.proxy import BackgroundServer, RecordingProxy

CALC_NEW = "def add(a, b):\n    return a + b\n"
CTX = ScriptContext(task_id="calc", solution_files={"calc.py": CALC_NEW}, prompt="Fix add().")
KEY = "sk-real-key-0123456789"
DUMMY = "dummy-key"
PROMPT = "Fix add() in calc.py."
SCHEMA = {"type": "object", "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
          "required": ["file_path", "content"]}


@pytest.fixture(scope="module")
def server():
    with ScriptedModelServer(CTX, chunk_chars=7) as srv:
        yield srv


@pytest.fixture
def proxy(server):
    with RecordingProxy(server.base_url, KEY) as px:
        yield px


# ---------------------------------------------------------------- each SDK, streaming and not


def responses_call(base_url: str, stream: bool, model: str = "scripted/oracle"):
    """One Responses turn with a write tool: ``(tool calls, text)`` as the agent saw them."""
    client = openai.OpenAI(base_url=base_url, api_key=DUMMY, max_retries=0)
    tools = [{"type": "function", "name": "write", "description": "Write a file", "parameters": SCHEMA}]
    if stream:
        with client.responses.stream(model=model, input=PROMPT, instructions="You are a coding agent.", tools=tools) as s:
            response = s.get_final_response()
    else:
        response = client.responses.create(model=model, input=PROMPT, instructions="You are a coding agent.", tools=tools)
    calls = [(item.name, json.loads(item.arguments)) for item in response.output if item.type == "function_call"]
    return calls, response.output_text


def messages_call(base_url: str, stream: bool, model: str = "scripted/oracle"):
    client = anthropic.Anthropic(base_url=base_url, api_key=DUMMY, max_retries=0)
    kwargs = dict(model=model, max_tokens=1024, system="You are a coding agent.",
                  messages=[{"role": "user", "content": PROMPT}],
                  tools=[{"name": "Write", "description": "Write a file", "input_schema": SCHEMA}])
    if stream:
        with client.messages.stream(**kwargs) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    calls = [(b.name, b.input) for b in message.content if b.type == "tool_use"]
    return calls, "".join(b.text for b in message.content if b.type == "text")


def gemini_call(base_url: str, stream: bool, model: str = "oracle"):
    client = genai.Client(api_key=DUMMY, http_options=gtypes.HttpOptions(base_url=base_url, retry_options=None))
    declaration = gtypes.FunctionDeclaration(name="write_file", description="Write a file", parameters_json_schema=SCHEMA)
    config = gtypes.GenerateContentConfig(
        system_instruction="You are a coding agent.", tools=[gtypes.Tool(function_declarations=[declaration])],
        automatic_function_calling=gtypes.AutomaticFunctionCallingConfig(disable=True))
    if stream:
        chunks = list(client.models.generate_content_stream(model=model, contents=PROMPT, config=config))
        calls = [(c.name, c.args) for chunk in chunks for c in chunk.function_calls or ()]
        return calls, "".join(chunk.text or "" for chunk in chunks if chunk.candidates and chunk.candidates[0].content
                              and any(p.text for p in chunk.candidates[0].content.parts or ()))
    response = client.models.generate_content(model=model, contents=PROMPT, config=config)
    return [(c.name, c.args) for c in response.function_calls or ()], ""


#: protocol name, the SDK call, the base URL it takes from a proxy, the tool it is offered.
SDKS = {
    "responses": (responses_call, lambda px: px.base_url, "write", "file_path"),
    "anthropic.messages": (messages_call, lambda px: px.url, "Write", "file_path"),
    "gemini.generate_content": (gemini_call, lambda px: px.url, "write_file", "file_path"),
}


@pytest.mark.slow
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("name", list(SDKS))
def test_the_oracle_calls_the_declared_write_tool_and_the_proxy_records_reported_tokens(proxy, name, stream):
    call, base, tool, path_key = SDKS[name]
    calls, _ = call(base(proxy), stream)
    assert calls == [(tool, {path_key: "calc.py", "content": CALC_NEW})]
    (record,) = proxy.calls
    assert record.protocol == name and record.error is None and record.stream is stream
    assert record.usage_source == "reported"
    assert record.prompt_tokens > 0 and record.completion_tokens > 0
    assert record.total_tokens == record.prompt_tokens + record.completion_tokens
    assert [(c.name, json.loads(c.arguments)) for c in record.tool_calls] == calls
    assert record.messages[0] == {"role": "system", "content": "You are a coding agent."}
    assert "oracle" in record.model


@pytest.mark.parametrize("name", list(SDKS))
def test_a_recorded_cassette_replays_the_same_calls_with_the_endpoint_gone(server, tmp_path, name):
    call, base, _, _ = SDKS[name]
    path = tmp_path / "cassette.jsonl"
    with RecordingProxy(server.base_url, KEY, record=Cassette(path)) as px:
        recorded = [call(base(px), False), call(base(px), True)]
    assert KEY not in path.read_text()
    with RecordingProxy(None, replay=Cassette.load(path)) as px:
        replayed = [call(base(px), False), call(base(px), True)]
        assert all(c.error is None and c.usage_source == "reported" for c in px.calls)
    assert replayed == recorded


def test_the_oracle_finishes_with_a_message_once_its_tool_calls_are_answered(proxy):
    client = anthropic.Anthropic(base_url=proxy.url, api_key=DUMMY, max_retries=0)
    tools = [{"name": "Write", "input_schema": SCHEMA}]
    first = client.messages.create(model="scripted/oracle", max_tokens=99, tools=tools,
                                   messages=[{"role": "user", "content": PROMPT}])
    use = next(b for b in first.content if b.type == "tool_use")
    assert first.stop_reason == "tool_use"
    messages = [{"role": "user", "content": PROMPT}, {"role": "assistant", "content": [use.model_dump()]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "written"}]}]
    second = client.messages.create(model="scripted/oracle", max_tokens=99, tools=tools, messages=messages)
    assert second.stop_reason == "end_turn" and "Done" in second.content[0].text
    client = openai.OpenAI(base_url=proxy.base_url, api_key=DUMMY, max_retries=0)
    items = [{"role": "user", "content": PROMPT},
             {"type": "function_call", "call_id": "c1", "name": "write", "arguments": "{}"},
             {"type": "function_call_output", "call_id": "c1", "output": "written"}]
    done = client.responses.create(model="scripted/oracle", input=items,
                                   tools=[{"type": "function", "name": "write", "parameters": SCHEMA}])
    assert "Done" in done.output_text


@pytest.mark.parametrize("name", list(SDKS))
@pytest.mark.parametrize("behaviour, says", [("noop", "done"), ("refuse", "can't help")])
def test_noop_and_refuse_answer_in_every_protocol(proxy, name, behaviour, says):
    call, base, _, _ = SDKS[name]
    model = behaviour if name.startswith("gemini") else f"scripted/{behaviour}"
    calls, text = call(base(proxy), True, model=model)
    assert calls == [] and says in text
    assert proxy.calls[-1].completion == text and proxy.calls[-1].usage_source == "reported"


def test_the_oracle_patches_through_apply_patch_when_that_is_the_only_edit_tool():
    body = {"messages": [{"role": "user", "content": PROMPT}],
            "tools": [{"type": "function", "function": {"name": "apply_patch", "parameters": {
                "type": "object", "properties": {"input": {"type": "string"}}}}}]}
    reply = plan_reply("oracle", CTX, body)
    (call,) = reply.tool_calls
    assert call["name"] == "apply_patch"
    assert json.loads(call["arguments"])["input"] == codex_patch({"calc.py": CALC_NEW})
    assert codex_patch({"calc.py": CALC_NEW}).splitlines()[1:4] == ["*** Add File: calc.py", "+def add(a, b):", "+    return a + b"]
    custom = plan_reply("oracle", CTX, {**body, "tools": [{"type": "custom", "custom": {"name": "apply_patch"}}]})
    assert custom.tool_calls[0]["custom"] and custom.tool_calls[0]["arguments"].startswith("*** Begin Patch")


# ---------------------------------------------------------------- errors in each protocol's shape


@pytest.mark.parametrize("name", list(SDKS))
def test_faults_fail_the_call_in_the_protocols_own_error_shape(proxy, name):
    call, base, _, _ = SDKS[name]
    model = "fail500" if name.startswith("gemini") else "scripted/fail500"
    with pytest.raises((openai.InternalServerError, anthropic.InternalServerError, genai.errors.ServerError)):
        call(base(proxy), False, model=model)
    assert proxy.calls[-1].error_kind == "server"


@pytest.mark.parametrize("name", list(SDKS))
def test_a_stream_cut_short_is_recorded_as_cut(proxy, name):
    call, base, _, _ = SDKS[name]
    model = "drop" if name.startswith("gemini") else "scripted/drop"
    with pytest.raises(Exception):
        call(base(proxy), True, model=model)
    assert proxy.calls[-1].error_kind is not None


def test_the_proxys_own_refusals_use_anthropics_error_shape(server):
    with RecordingProxy(server.base_url, KEY, limits=ProxyLimits(max_request_bytes=2000)) as px:
        client = anthropic.Anthropic(base_url=px.url, api_key=DUMMY, max_retries=0)
        with pytest.raises(anthropic.APIStatusError) as caught:
            client.messages.create(model="scripted/oracle", max_tokens=9, messages=[{"role": "user", "content": "x" * 5000}])
    assert caught.value.status_code == 413
    assert caught.value.body["type"] == "request_too_large" or caught.value.response.json()["type"] == "error"


# ---------------------------------------------------------------- the key, where each protocol wants it


class HeaderEcho(BackgroundServer):
    """An upstream that remembers each request's headers and query, answering every protocol minimally."""

    def __init__(self):
        super().__init__()
        self.seen: list = []

    async def _build_app(self):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        return app

    async def _any(self, request):
        self.seen.append((request.path, dict(request.headers), request.query_string))
        return web.json_response({"ok": True})


@pytest.mark.parametrize("path, header, dummy_header", [
    ("/v1/responses", "Authorization", "Authorization"),
    ("/v1/messages", "x-api-key", "x-api-key"),
    ("/v1beta/models/gemini-x:generateContent?key=" + DUMMY, "x-goog-api-key", "x-goog-api-key"),
])
def test_the_real_key_goes_upstream_in_the_protocols_own_header_and_the_dummy_never(path, header, dummy_header):
    import urllib.request
    with HeaderEcho() as echo, RecordingProxy(echo.url + "/up", KEY) as px:
        request = urllib.request.Request(px.url + path, data=b'{"model": "m", "contents": []}', method="POST",
                                         headers={dummy_header: DUMMY, "Authorization": "Bearer " + DUMMY,
                                                  "Content-Type": "application/json"})
        urllib.request.urlopen(request).read()
        (seen_path, headers, query), = echo.seen
    expected = f"Bearer {KEY}" if header == "Authorization" else KEY
    assert {k.lower(): v for k, v in headers.items()}[header.lower()] == expected
    assert DUMMY not in json.dumps(headers) + query and KEY not in query
    assert seen_path.startswith("/up/")


def test_gemini_routes_carry_the_model_into_the_recorded_request():
    protocol = protocol_for("POST", "/models/gemini-2.5-pro:streamGenerateContent")
    assert protocol is not None and protocol.name == "gemini.generate_content"
    annotated = protocol.annotate({"contents": []}, "/models/gemini-2.5-pro:streamGenerateContent", "alt=sse")
    assert annotated == {"contents": [], "model": "gemini-2.5-pro", "stream": True}
    assert protocol_for("POST", "/models/gemini-2.5-pro:countTokens") is None


@pytest.mark.parametrize("user_text", [
    "<environment_context>\n  <cwd>/work/cell</cwd>\n</environment_context>",
    "This is the Gemini CLI.\nI'm currently working in the directory: /work/cell\nHere is the folder structure",
])
def test_the_oracle_writes_absolute_paths_where_the_agent_names_its_directory_in_a_user_message(user_text):
    body = {"messages": [{"role": "user", "content": user_text}, {"role": "user", "content": PROMPT}],
            "tools": [{"type": "function", "function": {"name": "write_file", "parameters": SCHEMA}}]}
    (call,) = plan_reply("oracle", CTX, body).tool_calls
    assert json.loads(call["arguments"])["file_path"] == "/work/cell/calc.py"


@pytest.mark.parametrize("name", list(SDKS))
def test_an_endpoint_failing_the_cells_model_is_the_environment_in_every_protocol(server, name):
    call, base, _, _ = SDKS[name]
    upstream = server.register(CTX, model="scripted/fail500")
    healthy = upstream
    try:
        with RecordingProxy(upstream, KEY, model="scripted/fail500") as px:
            with pytest.raises(Exception):
                call(base(px), False)
            assert (px.infra_failure() or "").startswith("environment:")
        healthy = server.register(CTX)  # answers as whatever model a request names
        with RecordingProxy(healthy, KEY, model="scripted/oracle") as px:
            with pytest.raises(Exception):  # the agent names a failing model: its own doing
                call(base(px), False, model="fail500" if name.startswith("gemini") else "scripted/fail500")
            assert px.infra_failure() is None
    finally:
        server.unregister(upstream)
        server.unregister(healthy)


@pytest.mark.parametrize("path", ["/responses", "/messages"])
def test_a_lenient_stream_spelling_is_sent_and_recorded_as_a_stream(path):
    protocol = protocol_for("POST", path)
    body = {"model": "m", "stream": "true"}
    protocol.prepare(body)
    assert body["stream"] is True and protocol.is_stream(body)


def _post(url: str, body: dict):
    import urllib.error
    import urllib.request
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


RAW = {  # path below /v1, a minimal request body for a model
    "responses": ("/responses", lambda m: {"model": m, "input": "hi", "stream": True}),
    "anthropic.messages": ("/messages", lambda m: {"model": m, "max_tokens": 5, "stream": True,
                                                   "messages": [{"role": "user", "content": "hi"}]}),
    "gemini.generate_content": ("/models/{m}:streamGenerateContent?alt=sse", lambda m: {"contents": []}),
}


@pytest.mark.parametrize("name", list(RAW))
def test_rate_limits_and_garbage_are_recorded_in_every_protocol(proxy, name):
    path, body = RAW[name]
    url = proxy.base_url + path.replace("{m}", "scripted/ratelimit")
    status, headers, data = _post(url, body("scripted/ratelimit"))
    assert status == 429 and headers["Retry-After"] == "1"
    error = json.loads(data)
    assert error["type"] == "error" if name == "anthropic.messages" else "error" in error
    _post(proxy.base_url + path.replace("{m}", "scripted/garbage"), body("scripted/garbage"))
    assert [c.error_kind for c in proxy.calls] == ["rate_limit", "bad_response"]


def test_gemini_streams_a_json_array_without_alt_sse(server):
    status, _, data = _post(server.base_url.replace("/v1", "/v1beta") + "/models/scripted/noop:streamGenerateContent",
                            {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    events = json.loads(data)
    assert status == 200 and isinstance(events, list)
    assert events[-1]["candidates"][0]["finishReason"] == "STOP" and events[-1]["usageMetadata"]["totalTokenCount"] > 0
