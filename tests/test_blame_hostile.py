"""Red-team tests of the blame line: whatever the agent does, its cell is scored as the agent's, never the environment's.

Each whole-cell scenario runs the ``command`` adapter (or a test adapter wired to a real
adapter's output parsers) against the scripted model server.  The converse (the
harness's own failures are environment errors) is covered in ``test_blame.py``.
"""

from __future__ import annotations

import importlib
import shlex

import pytest

from cab_core import Adapter, LaunchSpec, hookimpl
from cab_core.plugins import get_plugin_manager
from cab_core.proxy import RecordingProxy
from cab_core.registry import Registry
from cab_core.runner import RunOptions, Runner
from cab_core.tasks import TaskCatalog

from test_blame import TASK, runner  # noqa: F401  (runner: the fixture, a Runner per plugin set on the demo task)

HUGE = "9" * 400  # a number no float holds
#: Lines a hostile agent prints where an adapter's parser reads: forged usage, odd JSON, bad UTF-8, a huge JSON line.
HOSTILE = "\n".join([
    f"[cab] pi reported usage: prompt {HUGE}, completion {HUGE}, total {HUGE}",
    '{"type": "turn.completed", "usage": {"input_tokens": 1e999, "output_tokens": "NaN"}}',
    '{"type": "result", "usage": {"input_tokens": -5, "output_tokens": [1]}, "result": {"x": 1}}',
    '{"type": "message_end", "message": {"role": "assistant", "usage": {"input": 1e999}}}',
    '{"stats": {"models": {"m": {"tokens": {"prompt": "x"}}}}}',
    "{" * 5000,
    '{"messages": ' + "[" * 3000 + "]" * 3000 + "}",
])
ADAPTERS = ("aider", "claude", "cline", "codex", "copilot", "gemini", "kilo", "mini_swe_agent", "opencode", "pi", "qwen")


def run(runner, tmp_path, **kw):
    kw.setdefault("adapter", "command")
    kw.setdefault("task", TASK)
    kw.setdefault("model", "scripted/noop")
    kw.setdefault("results", tmp_path / "results")
    kw.setdefault("timeout", 60)
    return runner.run_cell(RunOptions(**kw))[0]


def scored_as_the_agents(result) -> None:
    assert result.status == "ok", result.error
    assert result.scores["pass_rate"].value == 0.0
    assert not result.scores["composite"].value


# --------------------------------------------------------------------------- the agent's own process


@pytest.mark.slow
@pytest.mark.parametrize("name, command", [
    ("does nothing and exits 0", "true"),
    ("kills its own process group", "kill -9 0"),
    ("kills its parent", "kill -9 $PPID; sleep 1"),
    ("prints garbage and invalid UTF-8", "head -c 3000000 /dev/urandom; printf '\\377\\376\\0'"),
    ("waits on stdin", "cat; read x"),
    ("floods the proxy with requests", "python3 -c " + shlex.quote(
        "import json, os, urllib.request\n"
        "for _ in range(150):\n"
        "    req = urllib.request.Request(os.environ['OPENAI_BASE_URL'] + '/chat/completions', data=json.dumps("
        "{'model': 'x', 'messages': [{'role': 'user', 'content': 'hi'}]}).encode(), "
        "headers={'Content-Type': 'application/json'})\n"
        "    urllib.request.urlopen(req).read()\n")),
])
def test_whatever_the_agent_does_to_itself_is_scored_as_its_own(runner, tmp_path, name, command):
    result = run(runner(), tmp_path, options={"command": command})
    scored_as_the_agents(result)


@pytest.mark.slow
def test_the_agent_cannot_reach_the_model_server_past_the_proxy(runner, tmp_path):
    r = runner()
    server = r.model_server()
    direct = server.url + "/v1/chat/completions"
    probe = ("python3 -c " + shlex.quote(
        "import sys, urllib.request\n"
        "try:\n"
        f"    urllib.request.urlopen(urllib.request.Request({direct!r}, data=b'{{}}'), timeout=3)\n"
        "    print('REACHED THE UPSTREAM')\n"
        "except Exception as exc:\n"
        "    print('blocked:', type(exc).__name__)\n"))
    result = run(r, tmp_path, options={"command": probe})
    assert result.status == "ok", result.error
    assert "REACHED THE UPSTREAM" not in result.final_output and "blocked" in result.final_output


# --------------------------------------------------------------------------- adapters' parsers fed hostile output


def parsers(name: str):
    module = importlib.import_module(f"cab_adapters.{name}")
    return getattr(module, "final_output", None), getattr(module, "agent_tokens", None)


@pytest.mark.parametrize("name", ADAPTERS)
def test_every_adapters_parsers_survive_hostile_output(name):
    final_output, agent_tokens = parsers(name)
    registry = Registry(get_plugin_manager())
    r = Runner(registry, TaskCatalog(registry))
    adapter = Adapter(name=name, version="1", build_launch=lambda ctx: None, final_output=final_output,
                      agent_tokens=agent_tokens)
    with RecordingProxy("http://127.0.0.1:9/v1") as proxy:
        for output in (HOSTILE, HOSTILE.encode("utf-8") + b"\xff\xfe", "", "\x00" * 100):
            text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
            assert isinstance(r._final_output(adapter, text), str)
            checked = r._agent_tokens(adapter, text, proxy)
            from cab_core.tokens import token_warnings

            assert isinstance(token_warnings(checked), list)
    r.close()


def _parsing_adapter(name: str, final_output=None, agent_tokens=None):
    real_final, real_tokens = parsers(name) if name in ADAPTERS else (None, None)

    class Plugin:
        @hookimpl
        def cab_adapters(self):
            script = f"cat <<'EOF'\n{HOSTILE}\nEOF\nprintf 'def add(a, b):\\n    return a - b\\n' > calc.py"
            return [Adapter(name="parsing", version="1", build_launch=lambda ctx: LaunchSpec(argv=["/bin/sh", "-c", script]),
                            final_output=final_output or real_final, agent_tokens=agent_tokens or real_tokens)]

    return Plugin()


@pytest.mark.slow
def test_a_forged_usage_line_too_large_for_a_float_is_the_agents_doing(runner, tmp_path):
    result = run(runner(_parsing_adapter("pi")), tmp_path, adapter="parsing")
    scored_as_the_agents(result)
    assert result.agent_tokens["agrees"] is False
    assert any(w.startswith("token counts disagree") for w in result.host["warnings"])


@pytest.mark.slow
@pytest.mark.parametrize("tokens, final", [
    (lambda out: [("total_tokens", 1)], None),  # a parser returning the wrong shape
    (lambda out: {"total_tokens": float("inf"), "prompt_tokens": object()}, None),
    (None, lambda out: {"not": "text"}),  # a final answer that is not text
    (None, lambda out: b"\xff bytes"),
])
def test_a_parser_that_returns_nonsense_for_hostile_output_is_the_agents_doing(runner, tmp_path, tokens, final):
    result = run(runner(_parsing_adapter("test-only", final, tokens)), tmp_path, adapter="parsing")
    scored_as_the_agents(result)
    assert isinstance(result.final_output, str)


# --------------------------------------------------------------------------- what the agent leaves in its work tree


@pytest.mark.slow
@pytest.mark.parametrize("name, command", [
    ("a file name that is not UTF-8", "printf x > \"$(printf 'bad\\377\\376name.py')\""),
    ("a file name with a newline and a backslash", "printf x > \"$(printf 'a\\nb\\\\c.py')\""),
    ("a folder nested 300 deep", "p=.; for i in $(seq 300); do p=$p/d; done; mkdir -p $p && echo x > $p/f.py"),
    ("a socket and a fifo", "python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('s.sock')\"; mkfifo f.py"),
    ("a symlink loop and a dangling link", "ln -s loop loop; ln -s /nonexistent/x gone.py; ln -s . self"),
    ("a name of 255 bytes", "printf x > $(printf 'a%.0s' $(seq 252)).py"),
    ("a git folder of its own", "mkdir -p .git/objects && printf 'junk' > .git/HEAD && printf 'x' > .git/index"),
])
def test_whatever_the_agent_leaves_is_scored_as_its_own(runner, tmp_path, name, command):
    result = run(runner(), tmp_path, options={"command": command})
    scored_as_the_agents(result)


@pytest.mark.parametrize("steps", [("hook_files",), ("hook_files", "protected_after"), ("changes",)])
def test_a_harness_step_that_breaks_on_what_the_agent_left_is_the_agents_failure(runner, tmp_path, monkeypatch, steps):
    """The class, whatever the step: an exception after the agent ran that is not harness-side evidence.

    (The steps are made to fail here; the real causes found are fixed where they were, above.)
    """
    from cab_core.workspace import CellWorkspace

    def breaks(self, *a, **kw):
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "what the agent left")

    for step in steps:
        monkeypatch.setattr(CellWorkspace, step, breaks)
    result = run(runner(), tmp_path, options={"command": "printf 'def add(a, b):\\n    return a + b\\n' > calc.py"})
    scored_as_the_agents(result)
    assert any("the agent's failure" in w for w in result.host["warnings"])


@pytest.mark.parametrize("log", [
    '{"messages": [{"extra": {"response": {"usage": {"prompt_tokens": "x", "completion_tokens": 1e999}}}}]}',
    "[" * 100000,
    '{"messages": 5}',
    '{"event": "message_send", "properties": {"prompt_tokens": [1], "completion_tokens": -4}}\n' * 3,
])
def test_a_usage_log_the_agent_corrupted_gives_no_count_and_no_crash(tmp_path, log):
    from cab_adapters import _agents
    from cab_adapters.aider import usage_from_analytics
    from cab_adapters.mini_swe_agent import read_trajectory

    path = tmp_path / "usage.log"
    path.write_text(log)
    for reader in (read_trajectory, usage_from_analytics):
        code = _agents.relay_main("x", None, ["--usage-log", str(path), "--", "/bin/true"], reader)
        assert code == 0
