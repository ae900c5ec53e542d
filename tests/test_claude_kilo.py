"""The ``claude`` (Claude Code) and ``kilo`` (Kilo Code CLI) adapters, without running the agents.

What each cell gets: the endpoint in the shape its client wants, every model name pointing
at the cell's model, the switches that keep the agent offline, and the agent's own
token count read from its event stream.  Running the real agents (oracle, noop, the
strace check) is in ``tests/test_agents.py``, which picks both up from the registry.
"""

import json

import pytest

from cab_core import LaunchContext


@pytest.fixture()
def ctx(tmp_path):
    from cab_core.models import Task

    (tmp_path / "ws").mkdir()
    task = Task(id="t/one", prompt="fix it", language="python", test_command="true", workspace=tmp_path / "ws")
    return LaunchContext(task=task, model="scripted/oracle", workdir=tmp_path / "ws", home=tmp_path / "home",
                         base_url="http://127.0.0.1:9/v1", api_key="dummy", agent_from_image=True)


def _render(render, events):
    from cab_adapters._agents import Usage

    usage = Usage()
    lines = [line for event in events for line in render(event, usage)]
    return lines, usage


def test_claude_talks_messages_to_the_proxy_root_with_every_model_the_cells(ctx):
    from cab_adapters import claude

    spec = claude.AGENT.build_launch(ctx)
    env = spec.env
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9"  # the SDK adds /v1/messages itself
    assert env["ANTHROPIC_API_KEY"] == "dummy"
    assert {env[v] for v in claude.MODEL_VARS} == {"scripted/oracle"}, "a background job could pick another model"
    state = json.loads(spec.files["~/.claude.json"])  # the TUI's first-run questions, answered
    assert state["hasCompletedOnboarding"] and state["customApiKeyResponses"]["approved"] == ["dummy"]
    assert state["projects"][str(ctx.workdir)]["hasTrustDialogAccepted"]
    for switch in ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "DISABLE_TELEMETRY", "DISABLE_AUTOUPDATER", "IS_SANDBOX",
                   "CLAUDE_CODE_DISABLE_AUTO_MEMORY"):
        assert env[switch] == "1", switch
    argv = list(spec.argv[spec.argv.index("--") + 1:])
    assert argv[1:3] == ["-p", "fix it"] and "--dangerously-skip-permissions" in argv
    assert argv[argv.index("--model") + 1] == "scripted/oracle"
    assert argv[argv.index("--output-format") + 1] == "stream-json" and "--verbose" in argv


def test_claude_stream_json_gives_a_transcript_and_the_runs_own_count():
    from cab_adapters import _agents, claude

    events = [
        {"type": "system", "subtype": "init", "model": "scripted/oracle"},
        {"type": "assistant", "message": {"content": [{"type": "tool_use", "name": "Write",
                                                       "input": {"file_path": "/w/a.py", "content": "x"}}],
                                          "usage": {"input_tokens": 999, "output_tokens": 9}}},
        {"type": "user", "message": {"content": [{"type": "tool_result", "content": [{"type": "text", "text": "written"}]},
                                                 {"type": "tool_result", "is_error": True, "content": "denied"}]}},
        {"type": "assistant", "message": {"content": [{"type": "text", "text": "Done."}]}},
        {"type": "result", "subtype": "success", "is_error": False, "result": "Done.",
         "usage": {"input_tokens": 100, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 3,
                   "output_tokens": 7}},
    ]
    lines, usage = _render(claude.render, events)
    assert lines == [f"{_agents.TOOL_MARK}Write /w/a.py", f"{_agents.OK_MARK}written", f"{_agents.ERR_MARK}denied", "Done."]
    # Only the result's total counts: per-message usage repeats once per content block.
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reports) == (123, 7, 1)
    output = "\n".join(lines + [usage.line("claude")])
    assert claude.agent_tokens(output) == {"prompt_tokens": 123, "completion_tokens": 7, "total_tokens": 130}
    assert claude.final_output(output) == "Done."


def test_claude_error_result_is_shown_and_odd_events_do_not_break_the_relay():
    from cab_adapters import _agents, claude

    lines, usage = _render(claude.render, [{"type": "result", "is_error": True, "subtype": "error_max_turns"},
                                           {"type": "assistant", "message": {"content": ["not a block", {}]}},
                                           {"type": "stream_event"}])
    assert lines == [f"{_agents.ERR_MARK}error: error_max_turns"] and usage.reports == 1


def test_kilo_enables_only_the_cells_provider_and_never_snapshots(ctx):
    from cab_adapters import kilo

    spec = kilo.AGENT.build_launch(ctx)
    config = json.loads(spec.files["~/.cab/kilo.json"])
    assert config["enabled_providers"] == ["cab"], "any other provider fetches its model list from the internet"
    assert config["snapshot"] is False, "a slow snapshot makes kilo ask a question nobody answers"
    assert config["provider"]["cab"]["options"] == {"baseURL": "http://127.0.0.1:9/v1", "apiKey": "dummy"}
    assert config["model"] == config["small_model"] == "cab/scripted/oracle"
    assert spec.env["KILO_CONFIG"] == str(ctx.home / ".cab/kilo.json")
    assert spec.env["KILO_TELEMETRY_LEVEL"] != "all" and spec.env["KILO_NO_DAEMON"] == "1"
    assert all(spec.env[k].startswith(str(ctx.home)) for k in kilo.XDG)
    argv = list(spec.argv[spec.argv.index("--") + 1:])
    assert argv[1:3] == ["run", "--format"] and "--auto" in argv and argv[-1] == "fix it"
    assert argv[argv.index("-m") + 1] == "cab/scripted/oracle"


def test_kilo_provider_option_names_the_provider(ctx):
    import attrs

    from cab_adapters import kilo

    spec = kilo.AGENT.build_launch(attrs.evolve(ctx, options={"provider": "nim"}))
    config = json.loads(spec.files["~/.cab/kilo.json"])
    assert config["enabled_providers"] == ["nim"] and "nim/scripted/oracle" in spec.argv
