"""Per-cell budgets the recording proxy enforces, and the time limit told to the agent.

Real things throughout: the recording proxy in front of the scripted server, the
OpenAI SDK as the agent's client, and the mini and pi agents in real cells.
"""

import json
import threading

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as gerrors
from google.genai import types as gtypes

from cab_core.endpoint import RecordingProxy
from cab_core.endpoint.budget import BUDGET_KIND, BUDGET_STATUS, Budget, BudgetGuard
from cab_core.errors import CabError
from cab_core.modelserver import ScriptedModelServer
from cab_core.pricing import PriceTable, parse_price

from conftest import run_cab

MSG = [{"role": "user", "content": "hi"}]


def client(base_url, retries=2):
    # Retries left on: a budget refusal must not be something the SDK retries.
    return openai.OpenAI(base_url=base_url, api_key="dummy", max_retries=retries, timeout=10)


@pytest.mark.parametrize("kwargs", [{"max_tokens": 0}, {"max_model_calls": 1.5}, {"max_cost": -1},
                                    {"max_cost": float("inf")}, {"max_tokens": True}])
def test_bad_budgets_are_one_line_errors(kwargs):
    with pytest.raises(CabError) as info:
        Budget(**kwargs)
    assert "\n" not in str(info.value) and str(info.value).startswith("--max-")


def test_proxy_refuses_past_max_model_calls_with_a_readable_402():
    with ScriptedModelServer() as server, RecordingProxy(
            server.base_url, budget=BudgetGuard(Budget(max_model_calls=2), PriceTable(scripted=True))) as px:
        c = client(px.base_url)
        for _ in range(2):
            assert c.chat.completions.create(model="scripted/noop", messages=MSG).choices[0].message.content == "done"
        with pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="scripted/noop", messages=MSG)
        assert info.value.status_code == BUDGET_STATUS == 402
        assert info.value.body["type"] == BUDGET_KIND and "max-model-calls budget is 2" in info.value.body["message"]
        with pytest.raises(openai.APIStatusError):  # streamed calls are refused the same way
            c.chat.completions.create(model="scripted/noop", messages=MSG, stream=True)
        assert len(server.received) == 2  # refused calls never reach the upstream
        calls = px.calls
        # Three SDK requests after the budget: one per call, so the SDK did not retry the 402.
        assert [c.status for c in calls] == [200, 200, 402, 402]
        assert [c.error_kind for c in calls] == [None, None, BUDGET_KIND, BUDGET_KIND]
        assert px.infra_failure() is None  # a budget is never the environment
        hit = px.budget.exceeded
        assert hit["budget"] == "max_model_calls" and hit["limit"] == 2 and hit["refused_calls"] == 2
        assert hit["spent"]["model_calls"] == 2 and hit["spent"]["tokens"] == sum(c.total_tokens for c in calls[:2])


def _chat(base, stream):
    client(base, retries=2).chat.completions.create(model="scripted/noop", messages=MSG, stream=stream)


def _responses(base, stream):
    c = client(base, retries=2)
    if stream:
        with c.responses.stream(model="scripted/noop", input="hi") as s:
            s.get_final_response()
    else:
        c.responses.create(model="scripted/noop", input="hi")


def _messages(url, stream):
    c = anthropic.Anthropic(base_url=url, api_key="dummy", max_retries=2)
    kwargs = dict(model="scripted/noop", max_tokens=64, messages=MSG)
    if stream:
        with c.messages.stream(**kwargs) as s:
            s.get_final_message()
    else:
        c.messages.create(**kwargs)


def _gemini(url, stream):
    c = genai.Client(api_key="dummy", http_options=gtypes.HttpOptions(base_url=url))
    if stream:
        list(c.models.generate_content_stream(model="noop", contents="hi"))
    else:
        c.models.generate_content(model="noop", contents="hi")


def _status_and_body(exc):
    if isinstance(exc, gerrors.APIError):
        return exc.code, exc.details
    return exc.status_code, exc.body if isinstance(exc, openai.APIStatusError) else exc.response.json()


#: protocol -> (SDK call, its base URL from a proxy, the exception it raises, where the message is, the error's type)
PROTOCOLS = {
    "chat.completions": (_chat, lambda px: px.base_url, openai.APIStatusError,
                         lambda b: (b["message"], b["type"])),
    "responses": (_responses, lambda px: px.base_url, openai.APIStatusError, lambda b: (b["message"], b["type"])),
    "anthropic.messages": (_messages, lambda px: px.url, anthropic.APIStatusError,
                           lambda b: (b["error"]["message"], (b["type"], b["error"]["type"]))),
    "gemini.generate_content": (_gemini, lambda px: px.url, gerrors.APIError,
                                lambda b: (b["error"]["message"], (b["error"]["code"], b["error"]["status"]))),
}
KINDS = {"chat.completions": BUDGET_KIND, "responses": BUDGET_KIND, "anthropic.messages": ("error", "billing_error"),
         "gemini.generate_content": (402, "FAILED_PRECONDITION")}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_every_protocol_is_refused_in_its_own_error_shape_and_not_retried(name, stream):
    call, base, error, read = PROTOCOLS[name]
    guard = BudgetGuard(Budget(max_model_calls=1), PriceTable(scripted=True))
    with ScriptedModelServer() as server, RecordingProxy(server.base_url, budget=guard) as px:
        call(base(px), stream)
        with pytest.raises(error) as info:
            call(base(px), stream)
        status, body = _status_and_body(info.value)
        message, kind = read(body)
        assert status == 402 and kind == KINDS[name]
        assert message.startswith("cab: budget exceeded: this run's max-model-calls budget is 1")
        assert len(server.received) == 1  # the refused call never reached the upstream
        assert [(c.protocol, c.status, c.error_kind) for c in px.calls] == [
            (name, 200, None), (name, 402, BUDGET_KIND)]  # one refused request: the SDK did not retry it
    assert guard.exceeded["budget"] == "max_model_calls" and guard.exceeded["refused_calls"] == 1


def test_max_tokens_stops_after_the_call_that_crosses_it():
    guard = BudgetGuard(Budget(max_tokens=1), PriceTable(scripted=True))
    with ScriptedModelServer() as server, RecordingProxy(server.base_url, budget=guard) as px:
        c = client(px.base_url)
        c.chat.completions.create(model="scripted/noop", messages=MSG)
        with pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="scripted/noop", messages=MSG)
        assert info.value.status_code == 402 and "max-tokens" in info.value.body["message"]
    assert guard.exceeded["budget"] == "max_tokens" and guard.exceeded["spent"]["tokens"] > 1


def test_max_cost_counts_dollars_and_unknown_prices_exhaust_it():
    table = PriceTable(overrides=dict([parse_price("acme/noop=1000000,1000000")]))  # $1 a token
    guard = BudgetGuard(Budget(max_cost=0.5), table, "acme/noop")
    with ScriptedModelServer() as server, RecordingProxy(server.base_url, budget=guard) as px:
        c = client(px.base_url)
        c.chat.completions.create(model="acme/noop", messages=MSG)
        with pytest.raises(openai.APIStatusError):
            c.chat.completions.create(model="acme/noop", messages=MSG)
    assert guard.exceeded["budget"] == "max_cost" and guard.exceeded["spent"]["cost_usd"] >= 1


def test_parallel_calls_cannot_slip_past_max_model_calls():
    guard = BudgetGuard(Budget(max_model_calls=3), PriceTable(scripted=True))
    statuses = []
    with ScriptedModelServer(chunk_delay_s=0.02) as server, RecordingProxy(server.base_url, budget=guard) as px:
        def one():
            try:
                client(px.base_url, retries=0).chat.completions.create(model="scripted/noop", messages=MSG)
                statuses.append(200)
            except openai.APIStatusError as exc:
                statuses.append(exc.status_code)

        threads = [threading.Thread(target=one) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(statuses) == [200] * 3 + [402] * 7


def test_parallel_calls_cannot_slip_past_max_tokens():
    # Each call in flight reserves its prompt's estimated tokens: a burst cannot all be admitted.
    guard = BudgetGuard(Budget(max_tokens=3000), PriceTable(scripted=True))
    big = [{"role": "user", "content": "word " * 2000}]  # ~10 kB: ~2500 tokens reserved per call
    statuses = []
    with ScriptedModelServer(chunk_delay_s=0.05) as server, RecordingProxy(server.base_url, budget=guard) as px:
        def one():
            try:
                client(px.base_url, retries=0).chat.completions.create(model="scripted/noop", messages=big, stream=True)
                statuses.append(200)
            except openai.APIStatusError as exc:
                statuses.append(exc.status_code)

        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert statuses.count(200) <= 2 and statuses.count(402) >= 6


def test_max_cost_without_a_price_is_refused_before_the_cell(tmp_path, scripted_model_server):
    proc = run_cab("run", "-a", "mini", "-m", "acme/noop", "-t", "polyglot/python-slugify", "--endpoint",
                   scripted_model_server.base_url, "--max-cost", "1", "--results", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode == 2 and "--max-cost needs a price for model 'acme/noop'" in proc.stderr
    assert not (tmp_path / "r").exists()


def _loop_cell(tmp_path, adapter, *extra):
    proc = run_cab("run", "-a", adapter, "-m", "scripted/loop", "-t", "polyglot/python-slugify",
                   "--max-model-calls", "3", "--timeout", "240", "--results", str(tmp_path / "r"), *extra, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = next((tmp_path / "r").rglob("cell.json")).parent
    cell = json.loads((folder / "cell.json").read_text())
    return proc, cell


@pytest.mark.slow
def test_mini_looping_is_stopped_by_max_model_calls(tmp_path):
    proc, cell = _loop_cell(tmp_path, "mini", "-o", "max_turns=50")
    assert cell["status"] == "ok" and cell["error"] is None  # the agent's outcome, not the environment's
    hit = cell["budget_exceeded"]
    assert hit["budget"] == "max_model_calls" and hit["limit"] == 3 and hit["spent"]["model_calls"] == 3
    assert hit["refused_calls"] == 1  # mini gives up at the first refusal
    assert cell["budgets"] == {"max_model_calls": 3}
    assert [c["status"] for c in cell["model_calls"]] == [200, 200, 200, 402]
    assert "BUDGET EXCEEDED: max_model_calls 3" in proc.stdout
    assert "--max-model-calls 3" in cell["command"]
    # the cell page says so too
    run_cab("report", tmp_path / "r", "--out", tmp_path / "site", check=True, cwd=tmp_path)
    html = next((tmp_path / "site" / "cells").rglob("index.html")).read_text()
    assert 'data-testid="budget-exceeded"' in html and "past the max-model-calls budget of 3; spent 3 calls" in html


@pytest.mark.slow
def test_pi_looping_is_stopped_by_max_model_calls(tmp_path):
    proc, cell = _loop_cell(tmp_path, "pi")
    assert cell["status"] == "ok", cell["error"]
    hit = cell["budget_exceeded"]
    assert hit["budget"] == "max_model_calls" and hit["spent"]["model_calls"] == 3 and hit["refused_calls"] >= 1
    ok = [c for c in cell["model_calls"] if c["status"] == 200]
    assert len(ok) == 3 and all(c["tool_calls"] for c in ok)  # it really looped on tool calls
    assert "BUDGET EXCEEDED" in proc.stdout


def test_time_limit_in_the_env_and_through_the_deadline_plugin(tmp_path):
    script = 'echo "limit=$CAB_TIME_LIMIT_S deadline=$CAB_DEADLINE"; echo "prompt=$CAB_PROMPT"'
    proc = run_cab("run", "-a", "command", "-m", "shell", "-t", "polyglot/python-slugify", "-o", f"command={script}",
                   "--plugin", "deadline", "--timeout", "120", "--results", str(tmp_path / "r"), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cell = json.loads(proc.stdout)
    out = (next((tmp_path / "r").rglob("agent_output.txt"))).read_text()
    started = cell["started_at"]
    assert "limit=120 " in out and "Time limit: you have 2 minutes (120 seconds)" in out
    deadline = int(out.split("deadline=")[1].split()[0])
    import datetime as dt

    t0 = dt.datetime.fromisoformat(started).timestamp()
    assert t0 + 110 <= deadline <= t0 + 130
    assert cell["plugin_stack"] == ["deadline"]


def test_scripted_loop_never_finishes_whatever_tools_it_has():
    from cab_core.modelserver import loop_reply

    read = {"type": "function", "function": {"name": "read", "parameters": {"properties": {"path": {}}}}}
    bash = {"type": "function", "function": {"name": "bash", "parameters": {"properties": {"command": {}}}}}
    write = {"type": "function", "function": {"name": "put", "parameters": {"properties": {"path": {}, "content": {}}}}}
    answered = [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{}]}, {"role": "tool", "content": "y"}]
    for tools, name in (([bash, read], "read"), ([bash], "bash"), ([write], "put")):
        reply = loop_reply({"messages": answered, "tools": tools})
        assert reply.finish_reason == "tool_calls" and reply.tool_calls[0]["name"] == name
    assert "Still working" in loop_reply({"messages": answered}).content
