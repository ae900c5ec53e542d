"""The recording proxy over real HTTP: the openai SDK -> proxy -> scripted server (or a tiny upstream)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from urllib.parse import urlsplit

import attrs
import openai
import pytest
from aiohttp import web

from cab_core.cassette import Cassette, CassetteError, request_hash
from cab_core.models import ToolCall
from cab_core.modelserver import ScriptContext, ScriptedModelServer, plan_reply, usage_for
from cab_core.proxy import BackgroundServer, EndpointError, RecordingProxy

KEY = "sk-test-REAL-KEY-0123456789"
CTX = ScriptContext(
    task_id="demo/add",
    solution_files={"calc.py": "def add(a, b):\n    return a + b\n"},
    test_files={"tests/test_calc.py": "def test_add():\n    pass\n"},
)
WRITE = {
    "type": "function",
    "function": {
        "name": "write",
        "description": "Write a file",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}},
    },
}
MESSAGES = [{"role": "system", "content": "You are a coding agent."}, {"role": "user", "content": "Fix add()."}]


@pytest.fixture(scope="module")
def server():
    with ScriptedModelServer(CTX) as srv:
        yield srv


@pytest.fixture
def proxy(server):
    with RecordingProxy(server.base_url, KEY) as px:
        yield px


def client(base_url: str, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="dummy", max_retries=0, timeout=kw.pop("timeout", 10), **kw)


def chat(base_url: str, **request):
    """One chat completion through the openai SDK."""
    return client(base_url).chat.completions.create(**request)


def raw(url: str, body: dict | None = None, method: str = "POST") -> tuple[int, dict, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        data = None if body is None else json.dumps(body)
        conn.request(method, parts.path, body=data, headers={"Content-Type": "application/json", "Authorization": "Bearer dummy"})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def raw_or_error(url: str):
    try:
        return raw(url, {"model": "scripted/hang", "messages": MESSAGES})
    except (OSError, http.client.HTTPException) as exc:
        return exc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TinyUpstream(BackgroundServer):
    """An upstream that remembers the Authorization header of each request and answers a fixed completion."""

    def __init__(self):
        super().__init__()
        self.seen: list = []

    async def _build_app(self):
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    async def _chat(self, request):
        self.seen.append(request.headers.get("Authorization"))
        return web.json_response(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
            }
        )


# ---------------------------------------------------------------- recording


def test_non_streaming_call_is_recorded_with_the_servers_usage(proxy):
    reply = chat(proxy.base_url, model="scripted/oracle", messages=MESSAGES, tools=[WRITE], user="u-1")
    (call,) = proxy.calls
    assert call.index == 0 and call.timestamp.tzinfo is not None
    assert call.model == "scripted/oracle" and call.stream is False
    assert list(call.messages) == MESSAGES
    assert call.finish_reason == "tool_calls" and call.completion == ""
    sent = reply.choices[0].message.tool_calls[0]
    assert call.tool_calls == (ToolCall(id=sent.id, name="write", arguments=sent.function.arguments),)
    assert (call.prompt_tokens, call.completion_tokens, call.total_tokens) == (
        reply.usage.prompt_tokens,
        reply.usage.completion_tokens,
        reply.usage.total_tokens,
    )
    assert call.status == 200 and call.error is None and call.error_kind is None
    assert call.latency_ms > 0 and call.ttft_ms is None
    body = {"model": "scripted/oracle", "messages": MESSAGES, "tools": [WRITE]}
    assert call.request_hash == request_hash(body) == request_hash({**body, "user": "someone else"})
    assert len(call.request_hash) == 16
    assert proxy.infra_failure() is None


def test_streaming_tool_calls_are_reassembled_and_usage_captured_without_the_agent_asking(proxy, server):
    stream = chat(proxy.base_url, model="scripted/vandal", messages=MESSAGES, tools=[WRITE], stream=True)
    chunks = list(stream)
    assert all(c.choices for c in chunks), "the agent did not ask for usage, so gets no usage-only chunk"
    assert all(c.usage is None for c in chunks)
    streamed: dict[int, list] = {}
    for chunk in chunks:
        for piece in chunk.choices[0].delta.tool_calls or ():
            slot = streamed.setdefault(piece.index, [None, None, ""])
            slot[0] = slot[0] or piece.id
            slot[1] = slot[1] or piece.function.name
            slot[2] += piece.function.arguments or ""

    upstream_body = server.received[-1][1]
    assert upstream_body["stream_options"] == {"include_usage": True}, "the proxy asked upstream for usage"
    (call,) = proxy.calls
    assert call.stream is True
    assert [(t.id, t.name, t.arguments) for t in call.tool_calls] == [tuple(v) for _, v in sorted(streamed.items())]
    assert {json.loads(t.arguments)["path"] for t in call.tool_calls} == {"calc.py", "VANDAL.txt", "tests/test_calc.py"}
    agent_body = {"model": "scripted/vandal", "messages": MESSAGES, "tools": [WRITE], "stream": True}
    usage = usage_for(agent_body, plan_reply("vandal", CTX, agent_body))
    assert (call.prompt_tokens, call.completion_tokens, call.total_tokens) == tuple(usage.values())
    assert call.finish_reason == "tool_calls"
    assert call.ttft_ms is not None and 0 < call.ttft_ms <= call.latency_ms
    assert call.request_hash == request_hash(agent_body)


def test_an_agent_that_asks_for_usage_gets_it(proxy):
    options = {"include_usage": True}
    chunks = list(chat(proxy.base_url, model="scripted/refuse", messages=MESSAGES, stream=True, stream_options=options))
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    (call,) = proxy.calls
    assert call.total_tokens == chunks[-1].usage.total_tokens
    assert call.completion == "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert call.finish_reason == "stop"


def test_the_stream_passes_through_chunk_by_chunk():
    with ScriptedModelServer(CTX, chunk_delay_s=0.03) as slow, RecordingProxy(slow.base_url, KEY) as px:
        stream = chat(px.base_url, model="scripted/refuse", messages=MESSAGES, stream=True)
        t0 = time.perf_counter()
        arrivals = [time.perf_counter() - t0 for _ in stream]
        (call,) = px.calls
    # ~10 chunks 30 ms apart: had the proxy buffered, all would arrive together at the end.
    assert len(arrivals) > 8
    assert arrivals[0] < arrivals[-1] - 0.15
    assert call.ttft_ms < call.latency_ms - 150


def test_calls_are_indexed_in_arrival_order(proxy):
    api = client(proxy.base_url)
    for model in ("scripted/noop", "scripted/refuse", "scripted/noop"):
        api.chat.completions.create(model=model, messages=MESSAGES)
    assert [(c.index, c.model) for c in proxy.calls] == [(0, "scripted/noop"), (1, "scripted/refuse"), (2, "scripted/noop")]


def test_other_endpoints_are_forwarded_unrecorded(proxy):
    assert "scripted/oracle" in [m.id for m in client(proxy.base_url).models.list()]
    status, _, body = raw(proxy.url + "/elsewhere", method="GET")
    assert status == 404 and b"/v1/" in body
    assert proxy.calls == []


def test_the_proxy_also_serves_a_unix_socket(server, tmp_path):
    path = tmp_path / "p.sock"
    with RecordingProxy(server.base_url, KEY, unix_socket=path) as px:
        conn = http.client.HTTPConnection("localhost", timeout=5)
        conn.sock = socket.socket(socket.AF_UNIX)
        conn.sock.connect(str(path))
        conn.request("POST", "/v1/chat/completions", body=json.dumps({"model": "scripted/noop", "messages": MESSAGES}))
        reply = json.loads(conn.getresponse().read())
        conn.close()
        assert reply["choices"][0]["message"]["content"] == "done"
        assert len(px.calls) == 1
    assert not path.exists()


# ---------------------------------------------------------------- the key


@pytest.mark.parametrize("api_key, expected", [(KEY, f"Bearer {KEY}"), (None, None)])
def test_the_real_key_replaces_the_agents_dummy(api_key, expected):
    with TinyUpstream() as upstream, RecordingProxy(upstream.url + "/v1", api_key) as px:
        reply = chat(px.base_url, model="m", messages=MESSAGES)
        assert reply.choices[0].message.content == "hi"
        assert upstream.seen == [expected]
        assert px.calls[0].total_tokens == 8


# ---------------------------------------------------------------- failures


def test_an_unreachable_upstream_is_a_connection_error_and_an_infra_failure():
    with RecordingProxy(f"http://127.0.0.1:{free_port()}/v1", KEY) as px:
        with pytest.raises(openai.InternalServerError) as info:
            chat(px.base_url, model="scripted/oracle", messages=MESSAGES)
        assert info.value.status_code == 502
        (call,) = px.calls
        assert call.error_kind == "connection" and call.status == 502
        reason = px.infra_failure()
        assert reason is not None and "connection" in reason and "\n" not in reason
        assert KEY not in reason


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "fault, status, kind",
    [("fail500", 500, "server"), ("ratelimit", 429, "rate_limit"), ("garbage", 200, "bad_response")],
)
def test_upstream_errors_pass_through_and_are_classified(proxy, fault, status, kind, stream):
    body = {"model": f"scripted/{fault}", "messages": MESSAGES, "stream": stream}
    got_status, headers, data = raw(proxy.base_url + "/chat/completions", body)
    assert got_status == status
    if fault == "ratelimit":
        assert headers["Retry-After"] == "1"
    (call,) = proxy.calls
    assert (call.status, call.error_kind) == (status, kind)
    assert call.error and len(call.error) <= 500
    # The agent named the fault itself; the endpoint answers a probe of its own: not the environment.
    assert proxy.infra_failure() is None


@pytest.mark.parametrize("fault", ["fail500", "ratelimit", "garbage", "drop"])
def test_an_endpoint_failing_the_cells_own_model_is_the_environment(server, fault):
    model = f"scripted/{fault}"
    with RecordingProxy(server.register(CTX, model=model), KEY, model=model) as px:
        try:
            raw(px.base_url + "/chat/completions", {"model": "scripted/oracle", "messages": MESSAGES})
        except (OSError, http.client.HTTPException):
            pass  # drop: the connection is cut
        reason = px.infra_failure()
    assert reason is not None and reason.startswith("environment: model endpoint failed")
    assert "probe" in reason and KEY not in reason and "\n" not in reason


def test_one_success_means_no_infra_failure(server):
    with RecordingProxy(server.register(CTX, model="scripted/noop"), model="scripted/noop") as px:
        api = client(px.base_url)
        server.inject_faults("fail500", "fail500")  # the agent's call, then the proxy's probe
        with pytest.raises(openai.InternalServerError):
            api.chat.completions.create(model="scripted/noop", messages=MESSAGES)
        assert px.infra_failure() is not None
        api.chat.completions.create(model="scripted/noop", messages=MESSAGES)
        assert px.infra_failure() is None


def test_the_agents_own_bad_request_is_a_client_error_not_infra(proxy):
    with pytest.raises(openai.NotFoundError):
        chat(proxy.base_url, model="scripted/nonsense", messages=MESSAGES)
    assert proxy.calls[0].error_kind == "client"
    assert proxy.infra_failure() is None


def test_a_silent_upstream_times_out(server):
    route = server.register(CTX, model="scripted/hang")
    with RecordingProxy(route, KEY, timeout_s=0.3, model="scripted/hang") as px:
        with pytest.raises(openai.InternalServerError) as info:
            chat(px.base_url, model="scripted/noop", messages=MESSAGES)
        assert info.value.status_code == 504
        assert px.calls[0].error_kind == "timeout"
        assert "timeout" in px.infra_failure()


def test_a_stream_cut_upstream_is_cut_for_the_agent_too(proxy):
    with pytest.raises(openai.APIError):
        list(chat(proxy.base_url, model="scripted/drop", messages=MESSAGES, stream=True))
    (call,) = proxy.calls
    assert call.error_kind == "connection"
    assert call.completion  # what arrived before the cut is kept


def test_an_agent_that_hangs_up_mid_stream_is_recorded():
    with ScriptedModelServer(CTX, chunk_delay_s=0.02) as slow, RecordingProxy(slow.base_url) as px:
        parts = urlsplit(px.base_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        body = json.dumps({"model": "scripted/refuse", "messages": MESSAGES, "stream": True})
        conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.readline()
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        deadline = time.monotonic() + 3
        while not px.calls and time.monotonic() < deadline:
            time.sleep(0.02)
        (call,) = px.calls
    assert call.error_kind == "client"


def test_a_call_cut_off_by_stop_is_still_recorded(server):
    px = RecordingProxy(server.base_url).start()
    before = len(server.received)
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(raw_or_error(px.base_url + "/chat/completions")))
    thread.start()
    deadline = time.monotonic() + 3
    while len(server.received) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.perf_counter()
    px.stop()
    assert time.perf_counter() - t0 < 2.5
    thread.join(5)
    (call,) = px.calls
    assert call.error_kind == "timeout" and "stopped" in call.error


# ---------------------------------------------------------------- cassettes


def test_record_then_replay_offline_gives_identical_responses(server, tmp_path):
    path = tmp_path / "run.cassette.jsonl"
    requests = [
        {"model": "scripted/oracle", "messages": MESSAGES, "tools": [WRITE]},
        {"model": "scripted/oracle", "messages": MESSAGES, "tools": [WRITE], "stream": True},
        {"model": "scripted/refuse", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}},
        {"model": "scripted/ratelimit", "messages": MESSAGES},
    ]
    with RecordingProxy(server.base_url, KEY, record=Cassette(path)) as px:
        live = [raw(px.base_url + "/chat/completions", body) for body in requests]
        live_calls = px.calls
    assert path.exists()
    text = path.read_text()
    assert KEY not in text and "Authorization" not in text
    assert len(text.splitlines()) == 4

    with RecordingProxy(None, replay=Cassette.load(path)) as px:
        replayed = [raw(px.base_url + "/chat/completions", body) for body in requests]
        replay_calls = px.calls
        assert [m.id for m in client(px.base_url).models.list()] == ["scripted/oracle", "scripted/ratelimit", "scripted/refuse"]
    for (s1, h1, b1), (s2, h2, b2) in zip(live, replayed):
        assert (s1, h1["Content-Type"], b1) == (s2, h2["Content-Type"], b2)
    # The agent that did not ask for usage gets no usage chunk on replay either.
    assert b'"choices": []' not in replayed[1][2]
    assert b'"choices": []' in replayed[2][2]
    strip = ("index", "timestamp", "latency_ms", "ttft_ms")
    as_dicts = [[{k: v for k, v in attrs.asdict(c).items() if k not in strip} for c in calls] for calls in (live_calls, replay_calls)]
    assert as_dicts[0] == as_dicts[1]
    assert replay_calls[1].total_tokens > 0


def test_identical_requests_replay_in_recorded_order(server, tmp_path):
    cassette = Cassette(tmp_path / "c.jsonl")
    body = {"model": "scripted/noop", "messages": MESSAGES}
    with RecordingProxy(server.base_url, record=cassette) as px:
        ids = [json.loads(raw(px.base_url + "/chat/completions", body)[2])["id"] for _ in range(3)]
    assert len(set(ids)) == 3
    with RecordingProxy(None, replay=Cassette.load(cassette.path)) as px:
        assert [json.loads(raw(px.base_url + "/chat/completions", body)[2])["id"] for _ in range(3)] == ids
        status, _, _ = raw(px.base_url + "/chat/completions", body)  # a fourth was never recorded
        assert status == 500


def test_a_cassette_miss_is_a_clear_error(tmp_path):
    with RecordingProxy(None, replay=Cassette()) as px:
        body = {"model": "scripted/oracle", "messages": MESSAGES}
        status, _, data = raw(px.base_url + "/chat/completions", body)
        assert status == 500
        message = json.loads(data)["error"]["message"]
        assert message.startswith(f"cassette miss for request {request_hash(body)}")
        (call,) = px.calls
        assert call.error_kind == "cassette_miss"
        assert "cassette" in px.infra_failure()


def test_cassette_round_trip_and_hashing(tmp_path):
    cassette = Cassette()
    cassette.add("h1", {"a": 1}, 200, "application/json", '{"x": "é"}')
    cassette.add("h1", {"a": 1}, 429, "application/json", "{}")
    path = cassette.save(tmp_path / "sub" / "c.jsonl")
    assert not list(path.parent.glob("*.tmp"))
    loaded = Cassette.load(path)
    assert loaded.entries == cassette.entries
    assert [loaded.lookup("h1").status, loaded.lookup("h1").status, loaded.lookup("h1")] == [200, 429, None]
    loaded.rewind()
    assert loaded.lookup("h1").status == 200
    assert request_hash({"b": 1, "a": [1, 2]}) == request_hash({"a": [1, 2], "b": 1, "metadata": {"run": 3}})
    assert request_hash({"a": 1}) != request_hash({"a": 2})
    (tmp_path / "bad.jsonl").write_text('{"request_hash": "x"}\n')
    with pytest.raises(CassetteError, match="bad.jsonl:1"):
        Cassette.load(tmp_path / "bad.jsonl")
    with pytest.raises(CassetteError, match="does not exist"):
        Cassette.load(tmp_path / "missing.jsonl")


def test_a_proxy_needs_somewhere_to_send_calls():
    with pytest.raises(EndpointError, match="upstream endpoint URL or a replay cassette"):
        RecordingProxy(None)
    with pytest.raises(EndpointError, match="not an http"):
        RecordingProxy("localhost:8080")
