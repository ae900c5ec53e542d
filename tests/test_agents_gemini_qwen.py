"""Gemini CLI and Qwen Code: their configuration, their event transcripts, and what is their own in real cells.

The fast tests read the adapters' own functions; the slow ones run the installed agents
offline against the scripted model (they FAIL when the agent is not installed:
``cab agents install gemini qwen``).  Oracle and noop on Python and Rust, the token
cross-check and the loopback-only check are tests/test_agents.py's, for every real agent.
"""

from __future__ import annotations

import pytest

from cab_core import LaunchContext
from cab_core.models import Task
from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.runner import RunOptions, Runner
from cab_core.tasks import TaskCatalog

from cab_adapters import _agents, gemini, qwen

PY = "polyglot/python-slugify"


def _ctx(tmp_path, prompt="Fix it.", model="scripted/oracle"):
    task = Task(id="t/x", prompt=prompt, language="python", test_command="true", workspace=tmp_path)
    return LaunchContext(task=task, model=model, workdir=tmp_path / "w", home=tmp_path / "h",
                         base_url="http://127.0.0.1:9/v1", api_key="cab-key")


# --------------------------------------------------------------------------- configuration


def test_gemini_settings_select_the_key_turn_off_phoning_home_and_keep_every_call_on_the_cell_model(tmp_path):
    s = gemini.settings(_ctx(tmp_path, model="m/x"))
    assert s["security"]["auth"]["selectedType"] == "gemini-api-key"
    assert s["general"] == {"enableAutoUpdate": False, "enableAutoUpdateNotification": False}
    assert s["privacy"]["usageStatisticsEnabled"] is False and s["telemetry"]["enabled"] is False
    overrides = s["modelConfigs"]["customOverrides"]
    assert {o["match"]["model"] for o in overrides} >= {"base", "chat-compression-default"}
    assert all(o["modelConfig"] == {"model": "m/x"} for o in overrides)
    assert gemini.AGENT.endpoint(_ctx(tmp_path)) == "http://127.0.0.1:9"  # the SDK adds /v1beta itself
    assert qwen.AGENT.endpoint(_ctx(tmp_path)) == "http://127.0.0.1:9/v1"


def test_a_prompt_starting_with_a_dash_stays_the_prompt(tmp_path):
    ctx = _ctx(tmp_path, prompt="-h is broken: fix it")
    assert "--prompt=-h is broken: fix it" in gemini.argv(ctx)
    assert qwen.argv(ctx)[-1] == " -h is broken: fix it" and "--" not in qwen.argv(ctx)
    assert qwen.argv(_ctx(tmp_path))[-1] == "Fix it."


def test_qwen_settings_use_the_openai_auth_and_no_background_calls(tmp_path):
    s = qwen.settings(_ctx(tmp_path, model="m/x"))
    assert s["security"]["auth"]["selectedType"] == "openai" and s["model"]["name"] == "m/x"
    assert s["memory"] == {"enableManagedAutoMemory": False, "enableManagedAutoDream": False}
    assert s["general"]["enableAutoUpdate"] is False and s["telemetry"]["enabled"] is False


# --------------------------------------------------------------------------- transcripts and tokens


def _transcript(render, events, agent):
    usage = _agents.Usage()
    lines = [line for event in events for line in render(event, usage)]
    return "\n".join(lines + [usage.line(agent)]), lines


def test_gemini_transcript_joins_deltas_and_reads_its_own_total():
    events = [
        {"type": "init", "model": "m"},
        {"type": "message", "role": "user", "content": "fix"},
        {"type": "tool_use", "tool_name": "write_file", "tool_id": "1", "parameters": {"file_path": "a.py", "content": "x"}},
        {"type": "tool_result", "tool_id": "1", "status": "error", "error": {"message": "boom"}},
        {"type": "message", "role": "assistant", "content": "Done: upd", "delta": True},
        {"type": "message", "role": "assistant", "content": "ated a.py.", "delta": True},
        {"type": "result", "status": "success", "stats": {"total_tokens": 130, "input_tokens": 100, "output_tokens": 20}},
    ]
    output, lines = _transcript(gemini.Render(), events, "gemini")
    assert lines == ["→ write_file a.py", "  ✗ boom", "Done: updated a.py."]
    assert _agents.transcript_final(output) == "Done: updated a.py."
    # total_tokens counts thoughts too: the completion is what is left of it.
    assert _agents.reported_usage(output) == {"prompt_tokens": 100, "completion_tokens": 30, "total_tokens": 130}


def test_qwen_transcript_shows_tool_blocks_and_reads_its_own_total():
    events = [
        {"type": "system", "subtype": "init"},
        {"type": "assistant", "message": {"content": [{"type": "tool_use", "name": "read_file", "input": {"file_path": "/w/a.py"}}]}},
        {"type": "user", "message": {"content": [{"type": "tool_result", "is_error": False, "content": "A = 0"}]}},
        {"type": "assistant", "message": {"content": [{"type": "text", "text": "Done."}]}},
        {"type": "result", "is_error": False, "usage": {"input_tokens": 90, "cache_read_input_tokens": 10, "output_tokens": 5}},
    ]
    output, lines = _transcript(qwen.render, events, "qwen")
    assert lines == ["→ read_file /w/a.py", "  ✓ A = 0", "Done."]
    assert _agents.reported_usage(output) == {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105}


# --------------------------------------------------------------------------- real cells


@pytest.fixture(scope="module")
def runner():
    runner = Runner(registry := Registry(get_plugin_manager()), TaskCatalog(registry))
    yield runner
    runner.close()


def _run(runner, tmp_path, agent, task, model="scripted/oracle"):
    adapter = runner.registry.adapters.get(agent)
    assert adapter.is_installed(), f"{agent} {adapter.version} is not installed: run 'cab agents install {agent}'"
    result, folder = runner.run_cell(RunOptions(adapter=agent, model=model, task=task, results=tmp_path / "r", timeout=300))
    assert result.status == "ok", f"{agent}: {result.error}\n{(folder / 'agent_output.txt').read_text()[-3000:]}"
    return result, folder


@pytest.mark.slow
def test_qwen_oracle_reads_the_file_its_write_tool_refused_and_writes_it_again(runner, tmp_path):
    """(tests/test_agents.py runs every real agent's oracle, noop and loopback checks; here what is Qwen's own.)"""
    result, folder = _run(runner, tmp_path, "qwen", PY)
    assert result.passed and result.agent_tokens["agrees"] is True, result.agent_tokens
    output = (folder / "agent_output.txt").read_text()
    assert output.index("has not been read") < output.index("→ read_file") < output.rindex("→ write_file")
    assert len(result.model_calls) == 4  # write (refused), read, write, done


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["gemini", "qwen"])
def test_noop_fails_with_one_model_call(runner, tmp_path, agent):
    result, folder = _run(runner, tmp_path, agent, PY, model="scripted/noop")
    assert result.passed is False and (folder / "diff.patch").read_text().strip() == ""
    # Nothing but the task is asked of the model: no memory extraction, no helper models.
    assert len(result.model_calls) == 1 and result.model_calls[0].model == "scripted/noop"
