"""Who failed the cell: nothing the agent does may make it an environment error, and the endpoint's own failures are.

"Environment" is decided from the harness's own evidence only: a replay that cannot
answer, or an independent probe of the upstream, with the cell's model, failing too.
Each scenario is a whole cell whose agent is a shell command.
"""

from __future__ import annotations

import asyncio
import json
import shlex

import pytest
from aiohttp import web

from cab_core import Adapter, LaunchSpec, hookimpl
from cab_core.aioserver import BackgroundServer
from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.runner import RunOptions, Runner
from cab_core.tasks import TaskCatalog
from cab_core.testing import write_task

TASK = "demo/add"
FIX = "printf 'def add(a, b):\\n    return a + b\\n' > calc.py"

#: An agent that makes one chat call with the model and timeout it is given, prints what came back, and fixes the task.
CALL = r"""
import json, os, sys, urllib.request
body = {"model": sys.argv[1], "messages": [{"role": "user", "content": os.environ["CAB_PROMPT"]}]}
req = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json"})
try:
    print(urllib.request.urlopen(req, timeout=float(sys.argv[2])).status)
except Exception as exc:
    print("call failed:", type(exc).__name__, exc)
"""


def agent(model: str, timeout: float = 30) -> str:
    return f"python3 -c {shlex.quote(CALL)} {shlex.quote(model)} {timeout}; {FIX}"


class SlowUpstream(BackgroundServer):
    """A healthy endpoint that takes ``delay_s`` to answer anything."""

    def __init__(self, delay_s: float):
        super().__init__()
        self.delay_s = delay_s

    async def _build_app(self):
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    async def _chat(self, request):
        await request.read()
        await asyncio.sleep(self.delay_s)
        message = {"role": "assistant", "content": "OK"}
        return web.json_response({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                                  "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}})


@pytest.fixture
def runner(tmp_path):
    write_task(tmp_path / "tasks", TASK)

    def make(*plugins):
        registry = Registry(get_plugin_manager(plugins=plugins))
        made.append(Runner(registry, TaskCatalog(registry, tasks_dirs=[tmp_path / "tasks"])))
        return made[-1]

    made: list = []
    yield make
    for r in made:
        r.close()


def run(runner, tmp_path, **kw):
    kw.setdefault("adapter", "command")
    kw.setdefault("task", TASK)
    kw.setdefault("results", tmp_path / "results")
    kw.setdefault("timeout", 60)
    return runner.run_cell(RunOptions(**kw))[0]


# --------------------------------------------------------------------------- the agent's doing


@pytest.mark.slow
@pytest.mark.parametrize("named", ["scripted/fail500", "scripted/garbage", "scripted/ratelimit", "gpt-nonexistent"])
def test_naming_another_model_in_a_request_cannot_make_the_cell_an_environment_error(runner, tmp_path, named):
    result = run(runner(), tmp_path, model="scripted/noop", options={"command": agent(named)})
    assert result.status == "ok", result.error
    (call,) = result.model_calls
    assert call.error_kind is None and call.completion == "done", "the route answers as the cell's model"


@pytest.mark.slow
def test_one_call_then_quitting_before_the_answer_is_the_agents_doing(runner, tmp_path):
    with SlowUpstream(delay_s=3) as upstream:
        result = run(runner(), tmp_path, model="m", endpoint=upstream.url + "/v1",
                     options={"command": agent("m", timeout=0.3)})
    assert result.status == "ok", result.error
    (call,) = result.model_calls
    assert call.error_kind in ("timeout", "client")


# --------------------------------------------------------------------------- the endpoint's doing


@pytest.mark.parametrize("fault", ["fail500", "garbage"])
def test_an_endpoint_failing_the_cells_own_model_is_an_environment_error(runner, tmp_path, fault):
    result = run(runner(), tmp_path, model=f"scripted/{fault}", options={"command": agent("scripted/oracle")})
    assert result.status == "infra_error"
    assert result.error.startswith("environment: model endpoint failed") and "probe" in result.error


def test_an_unreachable_endpoint_is_an_environment_error(runner, tmp_path):
    result = run(runner(), tmp_path, model="m", endpoint="http://127.0.0.1:9/v1", options={"command": agent("m")})
    assert result.status == "infra_error" and result.error.startswith("environment: model endpoint failed")
    assert "connection" in result.error


# --------------------------------------------------------------------------- the token cross-check


def _counting_adapter(total: int):
    class Plugin:
        @hookimpl
        def cab_adapters(self):
            return [Adapter(name="counting", version="1",
                            build_launch=lambda ctx: LaunchSpec(argv=["/bin/sh", "-c", agent(ctx.model)]),
                            agent_tokens=lambda output: {"total_tokens": total})]

    return Plugin()


@pytest.mark.slow
@pytest.mark.parametrize("claimed, warns", [(None, False), (10**6, True)])
def test_an_agent_whose_count_disagrees_with_the_proxys_gets_a_warning(runner, tmp_path, claimed, warns):
    probe = run(runner(_counting_adapter(0)), tmp_path, adapter="counting", model="scripted/noop", sweep_id="probe")
    measured = probe.agent_tokens["proxy"]["total_tokens"]
    claim = measured if claimed is None else claimed
    result = run(runner(_counting_adapter(claim)), tmp_path, adapter="counting", model="scripted/noop")
    warnings = [w for w in result.host["warnings"] if w.startswith("token counts disagree")]
    assert result.agent_tokens["agrees"] is not warns
    assert bool(warnings) is warns
    if warns:
        assert f"total_tokens agent {claim} vs proxy {measured}" in warnings[0]
    assert json.dumps(result.host)  # the warning is plain data in the record


class OneModelUpstream(BackgroundServer):
    """Serves model ``gpt-x`` only: any other name is 404, a request without messages 400."""

    async def _build_app(self):
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    async def _chat(self, request):
        body = await request.json()
        if body.get("model") != "gpt-x":
            return web.json_response({"error": {"message": "model not found", "code": "model_not_found"}}, status=404)
        if not body.get("messages"):
            return web.json_response({"error": {"message": "messages is required"}}, status=400)
        return web.json_response({"choices": [{"index": 0, "message": {"role": "assistant", "content": "OK"},
                                               "finish_reason": "stop"}]})


def _send(base_url: str, body: dict) -> int:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("POST", parts.path + "/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    status = conn.getresponse().status
    conn.close()
    return status


def test_the_probe_accepts_the_cells_model_under_the_name_the_agent_sent_it():
    from cab_core.proxy import RecordingProxy

    with OneModelUpstream() as upstream:
        # aider is given "openai/gpt-x" and sends "gpt-x"; its one call was malformed (the agent's doing).
        with RecordingProxy(upstream.url + "/v1", model="openai/gpt-x") as px:
            assert _send(px.base_url, {"model": "gpt-x"}) == 400
            assert px.infra_failure() is None
        # A cell whose model the endpoint does not serve at all is the environment's.
        with RecordingProxy(upstream.url + "/v1", model="openai/gpt-y") as px:
            assert _send(px.base_url, {"model": "gpt-y", "messages": [{"role": "user", "content": "hi"}]}) == 404
            reason = px.infra_failure()
        assert reason.startswith("environment: model endpoint failed") and "HTTP 404" in reason
