"""Replay that works for real agents: what differs between recording and replaying, and what a miss says.

Recording and replaying a cell differ in its folder (in prompts, tool-call paths,
tool results, often split across stream events) and in today's date (pi's and
opencode's system prompts).  Both are placeholders for the hash and in recorded
responses; the raw request stays in the cassette.  A request the cassette does not
hold is an environment error naming the request and the fields that differ, never a
pass 0.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import shlex
from urllib.parse import urlsplit

import pytest

from cab_core.cassette import Cassette
from cab_core.endpoint import proxy as proxy_module
from cab_core.modelserver import ScriptContext, ScriptedModelServer
from cab_core.plugins import get_plugin_manager
from cab_core.proxy import RecordingProxy
from cab_core.registry import Registry
from cab_core.runner import RunOptions, Runner
from cab_core.tasks import TaskCatalog
from cab_core.testing import write_task

WRITE = {"type": "function", "function": {"name": "write", "parameters": {
    "type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}}}}
CTX = ScriptContext(task_id="demo/add", solution_files={"calc.py": "def add(a, b):\n    return a + b\n"})


def messages(cell: str, day: str = "2026-11-29") -> list:
    system = f"You are pi.\nCurrent date: {day}\nCurrent working directory: {cell}/work"
    return [{"role": "system", "content": system}, {"role": "user", "content": "Fix add()."}]


def post(base_url: str, body: dict) -> tuple[int, bytes]:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", parts.path + "/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def streamed_arguments(data: bytes) -> str:
    args = []
    for line in data.decode().splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices") or ():
                for call in choice.get("delta", {}).get("tool_calls") or ():
                    args.append(call.get("function", {}).get("arguments") or "")
    return "".join(args)


def at(day: str):
    moment = dt.datetime.fromisoformat(day + "T12:00:00+00:00")
    return lambda: moment


def test_a_cells_folder_split_across_stream_events_replays_as_the_new_cells(tmp_path, monkeypatch):
    path = tmp_path / "c.jsonl"
    with ScriptedModelServer(CTX, chunk_chars=5) as server:
        with RecordingProxy(server.base_url, record=Cassette(path), hash_substitutions={"/tmp/cell-A": "$CELL"}) as px:
            body = {"model": "scripted/oracle", "messages": messages("/tmp/cell-A"), "tools": [WRITE], "stream": True}
            status, recorded = post(px.base_url, body)
    assert status == 200 and "/tmp/cell-A/work/calc.py" in streamed_arguments(recorded)
    assert "/tmp/cell-A" not in path.read_text().split('"response"')[1].split('"status"')[0], "the path is a placeholder"
    with RecordingProxy(None, replay=Cassette.load(path), hash_substitutions={"/tmp/cell-B": "$CELL"}) as px:
        body = {"model": "scripted/oracle", "messages": messages("/tmp/cell-B"), "tools": [WRITE], "stream": True}
        status, replayed = post(px.base_url, body)
        assert px.infra_failure() is None
    assert status == 200
    assert json.loads(streamed_arguments(replayed))["path"] == "/tmp/cell-B/work/calc.py"


def test_todays_date_in_a_prompt_does_not_change_the_hash(tmp_path, monkeypatch):
    path = tmp_path / "c.jsonl"
    with ScriptedModelServer(CTX) as server:
        monkeypatch.setattr(proxy_module, "utcnow", at("2026-11-29"))
        with RecordingProxy(server.base_url, record=Cassette(path)) as px:
            status, recorded = post(px.base_url, {"model": "scripted/noop", "messages": messages("/c", "2026-11-29")})
            (first,) = px.calls
    monkeypatch.setattr(proxy_module, "utcnow", at("2026-12-01"))
    with RecordingProxy(None, replay=Cassette.load(path)) as px:
        status, replayed = post(px.base_url, {"model": "scripted/noop", "messages": messages("/c", "2026-12-01")})
        (second,) = px.calls
    assert status == 200 and json.loads(replayed)["choices"] == json.loads(recorded)["choices"]
    assert first.request_hash == second.request_hash
    assert Cassette.load(path).entries[0].request["messages"][0]["content"].count("2026-11-29") == 1, "raw request kept"


def test_a_time_of_day_stamped_beside_todays_date_does_not_change_the_hash():
    """Kilo stamps each message ``Message time: 2026-11-30T03:55:18Z``: the time moves like the date."""
    from cab_core.cassette import request_hash

    def body(stamp):
        return {"messages": [{"role": "user", "content": f"Message time: {stamp}\nfix it"}]}

    on = lambda day: {day: "$DATE"}  # noqa: E731  (what the proxy's placeholders hide)
    assert request_hash(body("2026-11-30T03:55:18Z"), on("2026-11-30")) == \
        request_hash(body("2026-12-02T17:01:09.123+01:00"), on("2026-12-02"))
    # A time beside any other date is content: it still changes the hash.
    assert request_hash(body("2020-01-01T03:55:18Z"), on("2026-11-30")) != \
        request_hash(body("2020-01-01T04:00:00Z"), on("2026-11-30"))


def test_what_an_adapter_declares_volatile_does_not_change_the_hash():
    """Codex's tool outputs carry a random chunk id and the wall time: its ``replay_volatile``."""
    from cab_core.cassette import PATTERN_PREFIX, request_hash

    def body(chunk, wall):
        return {"input": [{"type": "function_call_output", "output": f"Chunk ID: {chunk}\nWall time: {wall} seconds\nok"}]}

    volatile = {PATTERN_PREFIX + r"Chunk ID: [0-9a-z]+": "$VOLATILE", PATTERN_PREFIX + r"Wall time: [0-9.]+ seconds": "$VOLATILE"}
    assert request_hash(body("8303a7", "0.0000"), volatile) == request_hash(body("1f2e3d", "0.0123"), volatile)
    assert request_hash(body("8303a7", "0.0000")) != request_hash(body("1f2e3d", "0.0123"))  # undeclared: it counts
    # The rest of the output still counts.
    assert request_hash(body("8303a7", "0.0000"), volatile) != request_hash(
        {"input": [{"type": "function_call_output", "output": "Chunk ID: 1\nWall time: 1 seconds\nFAILED"}]}, volatile)


def test_a_miss_names_the_request_and_the_fields_that_differ(tmp_path):
    path = tmp_path / "c.jsonl"
    with ScriptedModelServer(CTX) as server, RecordingProxy(server.base_url, record=Cassette(path)) as px:
        for question in ("first", "second"):
            post(px.base_url, {"model": "scripted/noop", "messages": [{"role": "user", "content": question}]})
    with RecordingProxy(None, replay=Cassette.load(path)) as px:
        assert post(px.base_url, {"model": "scripted/noop", "messages": [{"role": "user", "content": "first"}]})[0] == 200
        status, data = post(px.base_url, {"model": "scripted/noop", "temperature": 0,
                                          "messages": [{"role": "user", "content": "second, reworded"}]})
        reason = px.infra_failure()
    assert status == 500 and "cassette miss" in json.loads(data)["error"]["message"]
    assert reason.startswith("environment: replay cassette miss for request")
    assert "(request #1, model 'scripted/noop')" in reason
    assert "nearest recorded request #1 differs in messages[0].content, temperature" in reason


# --------------------------------------------------------------------------- whole cells


#: An agent whose second call carries something new each run (a nonce): it cannot be replayed.
NONCE_AGENT = r"""
import json, os, urllib.request, uuid
def ask(text):
    body = {"model": "scripted/noop", "messages": [{"role": "user", "content": text}]}
    req = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        return urllib.request.urlopen(req, timeout=30).status
    except Exception as exc:
        return str(exc)
print(ask("hello"), ask("run " + uuid.uuid4().hex))
open("calc.py", "w").write("def add(a, b):\n    return a + b\n")
"""


@pytest.mark.slow
def test_a_replay_miss_mid_cell_is_an_environment_error_not_a_score(tmp_path):
    write_task(tmp_path / "tasks", "demo/add")
    registry = Registry(get_plugin_manager())
    runner = Runner(registry, TaskCatalog(registry, tasks_dirs=[tmp_path / "tasks"]))
    cassette = tmp_path / "cell.jsonl"
    common = dict(adapter="command", model="scripted/noop", task="demo/add", results=tmp_path / "results",
                  options={"command": f"python3 -c {shlex.quote(NONCE_AGENT)}"}, timeout=60)
    try:
        first, _ = runner.run_cell(RunOptions(**common, record_cassette=cassette))
        again, _ = runner.run_cell(RunOptions(**common, replay_cassette=cassette, endpoint="http://127.0.0.1:9/v1",
                                              sweep_id="replay"))
    finally:
        runner.close()
    assert first.status == "ok" and first.passed
    assert again.status == "infra_error" and again.scores == {}
    assert again.error.startswith("environment: replay cassette miss for request")
    assert "request #1" in again.error and "differs in messages[0].content" in again.error


# --------------------------------------------------------------------------- real agents


@pytest.mark.slow
@pytest.mark.parametrize("adapter, task", [("pi", "polyglot/rust-error-handling"), ("aider", "polyglot/python-slugify"),
                                           ("opencode", "polyglot/python-slugify")])
def test_real_agents_replay_with_the_endpoint_down(tmp_path, adapter, task):
    registry = Registry(get_plugin_manager())
    if registry.adapters.get(adapter).is_installed and not registry.adapters.get(adapter).is_installed():
        pytest.skip(f"{adapter} is not installed (cab agents install {adapter})")
    runner = Runner(registry, TaskCatalog(registry))
    cassette = tmp_path / "cell.jsonl"
    common = dict(adapter=adapter, model="scripted/oracle", task=task, results=tmp_path / "results", timeout=300)
    try:
        first, _ = runner.run_cell(RunOptions(**common, record_cassette=cassette, sweep_id="rec"))
        again, _ = runner.run_cell(RunOptions(**common, replay_cassette=cassette, endpoint="http://127.0.0.1:9/v1",
                                              sweep_id="replay"))
    finally:
        runner.close()
    assert first.status == "ok" and first.passed, first.error
    assert again.status == "ok", again.error
    assert [c.request_hash for c in again.model_calls] == [c.request_hash for c in first.model_calls]
    for axis in ("pass_rate", "tokens", "blast_radius", "refusal", "integrity"):
        assert first.scores[axis].value == again.scores[axis].value, axis
