"""The recording proxy's protocols and token counts: what every forwarded call leaves in the record.

Each test drives real HTTP through a :class:`RecordingProxy` to a small upstream that
behaves like a real provider would in one respect (ignores ``include_usage``, sends no
``usage``, serves legacy Completions, ...).
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import openai
import pytest
from aiohttp import web

from cab_core import tokens
from cab_core.endpoint import Reading, WireProtocol, protocols, register_protocol
from cab_core.endpoint.protocol import unregister_protocol
from cab_core.models import ModelCall, utcnow
from cab_core.modelserver import ScriptContext, ScriptedModelServer
from cab_core.proxy import BackgroundServer, RecordingProxy

MESSAGES = [{"role": "system", "content": "You are a coding agent."}, {"role": "user", "content": "Fix add() in calc.py."}]
ANSWER = "The bug is in add(): it subtracts. Return a + b instead."


class StubUpstream(BackgroundServer):
    """A provider that never reports usage, plus a legacy Completions route that does; remembers request bodies."""

    def __init__(self):
        super().__init__()
        self.bodies: list = []

    async def _build_app(self):
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/toy", self._toy)
        return app

    async def _chat(self, request):
        body = await request.json()
        self.bodies.append(body)
        if body.get("stream") is True:  # ignores include_usage, as some servers do
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for i in range(0, len(ANSWER), 7):
                chunk = {"choices": [{"index": 0, "delta": {"content": ANSWER[i:i + 7]}, "finish_reason": None}]}
                await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            await response.write(b"data: " + json.dumps(done).encode() + b"\n\ndata: [DONE]\n\n")
            await response.write_eof()
            return response
        message = {"role": "assistant", "content": ANSWER}
        return web.json_response({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

    async def _completions(self, request):
        body = await request.json()
        self.bodies.append(body)
        return web.json_response({"object": "text_completion", "choices": [{"index": 0, "text": " world", "finish_reason": "length"}],
                                  "usage": {"prompt_tokens": 11000, "completion_tokens": 1000, "total_tokens": 12000}})

    async def _toy(self, request):
        body = await request.json()
        return web.json_response({"said": body["say"] * 2, "spent": {"in": 3, "out": 4}})


@pytest.fixture(scope="module")
def stub():
    with StubUpstream() as upstream:
        yield upstream


@pytest.fixture
def proxy(stub):
    stub.bodies.clear()
    with RecordingProxy(stub.url + "/v1") as px:
        yield px


def post(url: str, data: bytes) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", parts.path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def expected_estimate(messages: list, completion: str) -> tuple[int, int]:
    prompt = tokens.count_prompt_tokens([m["content"] for m in messages], len(messages))
    return prompt, tokens.count_tokens(completion)


# --------------------------------------------------------------------------- requests are JSON


def test_an_escaped_stream_key_still_gets_usage_from_the_upstream():
    """``"\\u0073tream": true`` streams on any JSON server: the proxy must read it as ``stream`` too."""
    with ScriptedModelServer(ScriptContext()) as server, RecordingProxy(server.base_url) as px:
        raw = ('{"model": "scripted/refuse", "\\u0073tream": true, "messages": ' + json.dumps(MESSAGES) + "}").encode()
        status, data = post(px.base_url + "/chat/completions", raw)
        assert status == 200 and b"data: [DONE]" in data
        assert b'"choices": []' not in data, "the agent did not ask for the usage chunk"
        upstream = server.received[-1][1]
        assert upstream["stream_options"] == {"include_usage": True}
        (call,) = px.calls
    assert call.stream is True and call.usage_source == "reported" and call.total_tokens > 0


@pytest.mark.parametrize("value", ["true", 1, "yes"])
def test_a_stream_value_a_lenient_server_reads_as_true_is_sent_as_true(value, stub, proxy):
    body = {"model": "m", "messages": MESSAGES, "stream": value}
    status, data = post(proxy.base_url + "/chat/completions", json.dumps(body).encode())
    assert status == 200 and b"data: [DONE]" in data
    assert stub.bodies[-1]["stream"] is True and stub.bodies[-1]["stream_options"] == {"include_usage": True}


def test_duplicate_keys_reach_the_upstream_as_the_proxy_read_them(stub, proxy):
    raw = ('{"model": "m", "stream": false, "messages": ' + json.dumps(MESSAGES) + ', "stream": true}').encode()
    post(proxy.base_url + "/chat/completions", raw)
    assert stub.bodies[-1]["stream"] is True and stub.bodies[-1]["stream_options"] == {"include_usage": True}


# --------------------------------------------------------------------------- calls without usage


@pytest.mark.slow
def test_a_stream_whose_upstream_ignores_include_usage_is_estimated_never_zero(proxy):
    chunks = list(openai.OpenAI(base_url=proxy.base_url, api_key="x", max_retries=0).chat.completions.create(
        model="m", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    (call,) = proxy.calls
    assert call.usage_source == "estimated"
    assert (call.prompt_tokens, call.completion_tokens) == expected_estimate(MESSAGES, ANSWER)
    assert call.completion_tokens > 0 and call.total_tokens == call.prompt_tokens + call.completion_tokens


def test_a_body_without_usage_is_estimated(proxy):
    reply = openai.OpenAI(base_url=proxy.base_url, api_key="x", max_retries=0).chat.completions.create(
        model="m", messages=MESSAGES)
    assert reply.choices[0].message.content == ANSWER
    (call,) = proxy.calls
    assert call.usage_source == "estimated" and call.total_tokens > 0
    assert (call.prompt_tokens, call.completion_tokens) == expected_estimate(MESSAGES, ANSWER)


def test_the_estimate_uses_a_real_tokenizer_offline():
    assert tokens.tokenizer_name().startswith("tiktoken"), "tiktoken and its bundled ranks must load without a network"
    # cl100k_base: "hello world" is 2 tokens, the byte/word rule of thumb says 3.
    assert tokens.count_tokens("hello world") == 2
    assert tokens.count_tokens("") == 0 and tokens.count_tokens(" ") == 1


def test_a_failed_call_counts_nothing(stub):
    with RecordingProxy(stub.url + "/nowhere") as px:
        status, _ = post(px.base_url + "/chat/completions", json.dumps({"model": "m", "messages": MESSAGES}).encode())
        (call,) = px.calls
    assert status == 404 and call.usage_source == "none" and call.total_tokens == 0


# --------------------------------------------------------------------------- every route is recorded


def test_legacy_completions_are_recorded_with_their_tokens(proxy):
    reply = openai.OpenAI(base_url=proxy.base_url, api_key="x", max_retries=0).completions.create(
        model="m", prompt="Say hello")
    assert reply.choices[0].text == " world"
    (call,) = proxy.calls
    assert call.protocol == "completions" and call.usage_source == "reported"
    assert (call.prompt_tokens, call.completion_tokens, call.total_tokens) == (11000, 1000, 12000)
    assert call.completion == " world" and call.finish_reason == "length"
    assert call.messages == ({"role": "user", "content": "Say hello"},)


def test_the_proxy_forwards_no_post_it_does_not_record(proxy):
    for path in ("/embeddings", "/files", "/fine_tuning/jobs", "/responses/resp_1/cancel", "/models/m:countTokens",
                 "/messages/count_tokens", "/chat/completions/../files"):
        status, data = post(proxy.base_url + path, b"{}")
        assert status == 403, path
    assert {p.name for p in protocols().values()} == {"chat.completions", "completions", "responses", "anthropic.messages",
                                                      "gemini.generate_content"}
    assert proxy.calls == []


class Toy(WireProtocol):
    """A made-up protocol: ``{"say": s}`` in, ``{"said": ss, "spent": {...}}`` out."""

    name = "toy"
    paths = ("/toy",)

    def messages(self, body):
        return ({"role": "user", "content": body.get("say", "")},)

    def read_body(self, reading: Reading, obj):
        reading.text(obj["said"])
        reading.usage = obj["spent"]

    def usage(self, usage):
        return usage["in"], usage["out"], usage["in"] + usage["out"]


def test_a_new_protocol_is_one_registered_object(proxy):
    toy = register_protocol(Toy())
    try:
        status, data = post(proxy.base_url + "/toy", json.dumps({"say": "hi"}).encode())
    finally:
        unregister_protocol(toy)
    assert status == 200 and json.loads(data)["said"] == "hihi"
    (call,) = proxy.calls
    assert (call.protocol, call.completion, call.total_tokens, call.usage_source) == ("toy", "hihi", 7, "reported")


def test_a_path_claimed_twice_is_an_error_naming_both():
    class Other(Toy):
        name = "other"
        paths = ("/chat/completions",)

    with pytest.raises(ValueError, match="'chat.completions' and 'other'"):
        register_protocol(Other())


# --------------------------------------------------------------------------- what the axes see


def _call(source: str, total: int) -> ModelCall:
    return ModelCall(index=0, timestamp=utcnow(), request_hash="h", prompt_tokens=total - 1, completion_tokens=1,
                     total_tokens=total, usage_source=source)


def test_the_tokens_axis_says_how_many_calls_were_estimated(tmp_path):
    from cab_scorers.tokens import score

    from cab_core.models import CellId, FileChanges, ProcessResult, ScoreContext, Task

    task = Task(id="demo/add", prompt="p", language="python", workspace=tmp_path, test_command="true")
    ctx = ScoreContext(task=task, cell=CellId(sweep="s", adapter="a", model="m", task="demo/add"),
                       launch=ProcessResult(exit_code=0), verify=None, changes=FileChanges(),
                       model_calls=[_call("reported", 10), _call("estimated", 20), _call("estimated", 5)])
    breakdown = score(ctx).breakdown
    assert breakdown["estimated_calls"] == 2 and breakdown["total_tokens"] == 35


@pytest.mark.parametrize("reported, measured, warns", [
    (1000, 1000, False), (1000, 1040, False), (1000, 1200, True), (0, 15, False), (0, 500, True),
])
def test_the_agent_and_proxy_counts_warn_beyond_a_small_tolerance(reported, measured, warns):
    record = {"reported": {"total_tokens": reported}, "proxy": {"prompt_tokens": measured, "completion_tokens": 0,
                                                                 "total_tokens": measured}, "estimated_calls": 1}
    warning = tokens.agent_token_warning(record)
    assert (warning is not None) is warns
    if warns:
        assert f"agent {reported} vs proxy {measured}" in warning and "1 call(s) had no usage" in warning
    assert tokens.token_warnings(record) == ([warning] if warns else [])


def test_a_compressed_request_is_refused_not_relayed_unread(stub, proxy):
    import gzip

    data = gzip.compress(json.dumps({"model": "m", "messages": MESSAGES, "stream": True}).encode())
    parts = urlsplit(proxy.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("POST", "/v1/chat/completions", body=data,
                 headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    resp = conn.getresponse()
    error = json.loads(resp.read())["error"]
    conn.close()
    assert resp.status == 415 and "uncompressed" in error["message"]
    assert stub.bodies == []
    (call,) = proxy.calls
    assert call.status == 415 and call.error_kind == "client"
