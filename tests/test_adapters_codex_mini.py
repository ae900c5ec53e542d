"""The codex and mini-swe-agent adapters' own pieces, without running the agents.

Their config must point at the cell's endpoint whatever the model is called, their
event streams must become a transcript and the agent's own token count, and a
mangled event or trajectory must never stop the cell.  (The agents themselves run in
``tests/test_agents.py`` and ``tests/e2e``.)
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from cab_adapters import _agents, codex, mini_swe_agent
from cab_core import LaunchContext, Task

#: What ``codex exec --json`` 0.171.0 printed for the oracle on python-slugify (abridged).
CODEX_EVENTS = [
    {"type": "thread.started", "thread_id": "t"},
    {"type": "item.completed", "item": {"id": "item_0", "type": "error", "message": "Model metadata for `scripted/oracle` not found."}},
    {"type": "turn.started"},
    {"type": "item.started", "item": {"id": "item_1", "type": "command_execution", "command": "/bin/bash -lc \"cat > slugify.py <<'CAB_EOF'\n...\"", "status": "in_progress"}},
    {"type": "item.completed", "item": {"id": "item_1", "type": "command_execution", "command": "...", "aggregated_output": "", "exit_code": 0, "status": "completed"}},
    {"type": "item.completed", "item": {"id": "item_2", "type": "agent_message", "text": "Done: updated slugify.py."}},
    {"type": "turn.completed", "usage": {"input_tokens": 15772, "cached_input_tokens": 0, "output_tokens": 463, "reasoning_output_tokens": 0}},
]


def ctx(tmp_path: Path, model: str = "scripted/oracle", **options) -> LaunchContext:
    task = Task(id="t/x", prompt="-fix it", language="python", test_command="true", workspace=tmp_path)
    return LaunchContext(task=task, model=model, workdir=tmp_path / "work", home=tmp_path / "home",
                         base_url="http://127.0.0.1:9/v1", api_key="dummy", options=options)


@pytest.mark.parametrize("model", ["scripted/oracle", 'we"ird\\model'])
def test_codex_config_names_one_provider_at_the_proxy_with_network_extras_off(tmp_path, model):
    files = codex.config(ctx(tmp_path, model, context_window="64000"))
    config = tomllib.loads(files["~/.codex/config.toml"])
    assert config["model"] == model and config["model_provider"] == "cab"
    assert config["model_providers"]["cab"] == {
        "name": "cab", "base_url": "http://127.0.0.1:9/v1", "wire_api": "responses", "env_key": "OPENAI_API_KEY",
        "request_max_retries": 2, "stream_max_retries": 2}
    assert config["features"] == {"plugins": False, "remote_plugin": False, "unbounded_connection_retries": False}
    assert config["analytics"] == {"enabled": False} and config["check_for_update_on_startup"] is False
    assert config["model_context_window"] == 64000


def test_codex_takes_the_prompt_after_a_double_dash(tmp_path):
    argv = codex.argv(ctx(tmp_path))
    assert argv[:2] == ["exec", "--json"] and argv[-2:] == ["--", "-fix it"]


def test_codex_events_become_a_transcript_and_its_own_token_count(capsys):
    usage = _agents.Usage()
    lines = [line for event in CODEX_EVENTS for line in codex.render(event, usage)]
    assert lines[0].startswith(_agents.ERR_MARK) and lines[1].startswith(_agents.TOOL_MARK + "exec ")
    assert lines[-1] == "Done: updated slugify.py."
    output = "\n".join(lines + [usage.line("codex")])
    assert codex.agent_tokens(output) == {"prompt_tokens": 15772, "completion_tokens": 463, "total_tokens": 16235}
    assert codex.final_output(output) == "Done: updated slugify.py."


@pytest.mark.parametrize("event", [{"type": "item.completed", "item": None}, {"type": "turn.completed", "usage": None},
                                   {"type": "item.completed", "item": {"type": "file_change", "changes": None}},
                                   {"type": "turn.failed"}, {"type": "something.new", "item": [1]}])
def test_codex_odd_events_render_without_raising(event):
    list(codex.render(event, _agents.Usage()))


def test_mini_swe_agent_is_pointed_at_the_proxy_through_its_environment_only(tmp_path):
    c = ctx(tmp_path, context_window="64000")
    env, argv = mini_swe_agent.cell_env(c), mini_swe_agent.argv(c)
    assert env["OPENAI_BASE_URL"] == "http://127.0.0.1:9/v1" and env["OPENAI_API_KEY"] == "dummy"
    assert "-c" not in argv, "a -c spec drops mini.yaml and is looked up in the work directory"
    assert argv[:3] == ["-I", "-m", "minisweagent.run.mini"] and argv[argv.index("-m", 2) + 1] == "openai/scripted/oracle"
    assert argv[-2:] == ["-t", "-fix it"]
    registry = json.loads(mini_swe_agent.config(c)["~/.cab-mini-swe-agent/registry.json"])
    assert registry["openai/scripted/oracle"]["max_input_tokens"] == 64000
    assert registry["openai/scripted/oracle"]["input_cost_per_token"] == 0


def test_mini_swe_agent_trajectory_gives_its_token_count_format_errors_included():
    trajectory = {"messages": [
        {"role": "system", "content": "..."},
        {"role": "assistant", "content": None, "extra": {"response": {"usage": {"prompt_tokens": 903, "completion_tokens": 455}}}},
        {"role": "user", "content": "Tool call error", "extra": {"response": {"usage": {"prompt_tokens": 1377, "completion_tokens": 8}}}},
        {"role": "tool", "content": "{}"}, None, {"extra": {"response": "repr(...)"}}]}
    usage = mini_swe_agent.read_trajectory(json.dumps(trajectory))
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reports) == (2280, 463, 2)
    assert mini_swe_agent.read_trajectory("not json").reports == 0
    assert mini_swe_agent.read_trajectory("[]").reports == 0


def test_mini_swe_agent_final_answer_is_its_last_steps_text():
    output = ("mini-swe-agent (step 1, $0.00):\n```\ncat > a <<'E'\nx\nE\n```\n\nTool:\n<returncode>\n0\n"
              "mini-swe-agent (step 2, $0.00):\nDone: updated a.\n\n```\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```\n\n"
              "Tool:\n<returncode>\n-1\n\nExit:\n\nSaved trajectory to '/h/t.json'\n")
    assert mini_swe_agent.final_output(output) == "Done: updated a."
    spinner = "\u280b Waiting for the LM to respond...\r\x1b[2K"
    assert mini_swe_agent.final_output(output.replace("):\n", "):\n" + spinner)) == "Done: updated a."
    assert mini_swe_agent.final_output(output.replace("):\n", "):\n" + spinner.replace("\r", "\n"))) == "Done: updated a."
    assert mini_swe_agent.final_output("no steps at all") == "no steps at all"


def codex_request(session: str, text: str = "fix it") -> dict:
    """The per-run parts of a Codex request: session ids, cache key, made-up ids of its own input items."""
    return {"model": "scripted/oracle", "prompt_cache_key": session, "stream": True,
            "client_metadata": {"session_id": session, "x-codex-turn-metadata": f'{{"turn_started_at_unix_ms":{len(session)}}}'},
            "input": [{"type": "message", "id": f"msg_{session}", "role": "user", "content": [{"type": "input_text", "text": text}]},
                      {"type": "function_call", "call_id": "call_0_abc", "name": "exec_command", "arguments": "{}"}]}


def test_codex_requests_of_two_runs_hash_alike_so_a_cassette_replays_them():
    from cab_core.cassette import Cassette, request_hash

    assert request_hash(codex_request("01a22aaf-2f12")) == request_hash(codex_request("01a22ab0-9c41-77"))
    assert request_hash(codex_request("s", "fix it")) != request_hash(codex_request("s", "break it"))
    cassette = Cassette()
    cassette.add(request_hash(codex_request("a")), codex_request("a"), 200, "text/event-stream", "")
    assert cassette.nearest(codex_request("b", "break it"), 0) == (0, ["input[0].content[0].text"])
