"""The real agents in real cells, offline against the scripted model.

The agents are every registered adapter with an ``install`` (as in the e2e suite): a new
adapter is tested here by being registered.  Every test here runs an installed agent, so all are slow.  An agent that is not
installed FAILS its tests, never skips them: CI installs the agents with
``scripts/install-agents.sh`` before the suite runs.
"""

import json
import re
import shutil
from pathlib import Path

import attrs
import pytest

from cab_core import AgentPlugin, hookimpl
from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.runner import RunOptions, Runner
from cab_core.sandbox.local import bwrap_path
from cab_core.tasks import TaskCatalog, solution_files

from conftest import run_cab

pytestmark = pytest.mark.slow


def _real_adapters() -> list:
    return sorted((a for a in Registry(get_plugin_manager()).adapters if a.install is not None), key=lambda a: a.name)


AGENTS = tuple(a.name for a in _real_adapters())
PY = "polyglot/python-slugify"
RUST = "polyglot/rust-error-handling"
#: Agents with a --mode interactive driver.
INTERACTIVE = tuple(a.name for a in _real_adapters() if a.interactive is not None)


class Strace:
    """Runs the agent under ``strace -e trace=connect``; the trace lands in the work dir, so in diff.patch."""

    TRACE = ".cab-connect-trace"

    @hookimpl
    def cab_agent_plugins(self):
        def apply(spec, ctx, options):
            argv = [shutil.which("strace") or "strace", "-f", "-qq", "-e", "trace=connect",
                    "-o", str(ctx.workdir / self.TRACE), *spec.argv]
            files = dict(spec.files)
            if options.get("unseeded"):
                # opencode as it behaves by default: its config folder not pre-seeded.
                files = {k: v for k, v in files.items() if not k.startswith("~/.config/opencode/")}
                while "--link" in argv or "--copy" in argv:
                    i = argv.index("--link" if "--link" in argv else "--copy")
                    del argv[i:i + 2]
            return attrs.evolve(spec, argv=argv, files=files)

        return [AgentPlugin(name="strace", apply=apply)]


@pytest.fixture(scope="module")
def runner():
    pm = get_plugin_manager(plugins=[Strace()])
    registry = Registry(pm)
    runner = Runner(registry, TaskCatalog(registry))
    yield runner
    runner.close()


def require(runner, name):
    adapter = runner.registry.adapters.get(name)
    assert adapter.is_installed(), f"{name} {adapter.version} is not installed: run scripts/install-agents.sh"
    return adapter


def run(runner, tmp_path, agent, task, model="scripted/oracle", **kw):
    require(runner, agent)
    kw.setdefault("results", tmp_path / "results")
    kw.setdefault("timeout", 300)
    result, folder = runner.run_cell(RunOptions(adapter=agent, model=model, task=task, **kw))
    assert result.status == "ok", f"{agent} on {task}: {result.error}\n{(folder / 'agent_output.txt').read_text()[-3000:]}"
    return result, folder


def read_cast(folder: Path):
    """The recording as (header, events); fails unless it is asciicast v2."""
    lines = (folder / "terminal.cast").read_text().splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2 and header["width"] > 0 and header["height"] > 0
    events = [json.loads(line) for line in lines[1:]]
    for event in events:
        assert isinstance(event, list) and len(event) == 3, event
        assert isinstance(event[0], (int, float)) and event[1] in ("o", "i", "m") and isinstance(event[2], str), event
    assert [e[0] for e in events] == sorted(e[0] for e in events)
    assert any(e[1] == "o" and e[2].strip() for e in events)
    return header, events


def added_lines(task_id, runner):
    """Lines the reference solution adds (what the scripted edit must put in diff.patch)."""
    task = runner.catalog.get(task_id)
    out = {}
    for rel, new in solution_files(task).items():
        old = (task.workspace / rel).read_text() if (task.workspace / rel).exists() else ""
        out[rel] = [line for line in new.splitlines() if line.strip() and line not in old.splitlines()]
    return out


def connects(folder: Path) -> list[str]:
    """The connect() calls in the trace Strace left in the work dir (read back from diff.patch)."""
    patch = (folder / "diff.patch").read_text()
    start = patch.index(f"+++ b/{Strace.TRACE}")
    body = patch[start:].split("\ndiff --git ", 1)[0]
    return [line[1:] for line in body.splitlines()[1:] if line.startswith("+") and "connect(" in line]


def inet_targets(calls):
    """``(address, result)`` of every IPv4/IPv6 connect()."""
    out = []
    for call in calls:
        match = re.search(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', call)
        if match:
            out.append((match.group(1) or match.group(2), call.rsplit("=", 1)[-1].strip()))
    return out


# --------------------------------------------------------------------------- the agents solve tasks


@pytest.mark.parametrize("task", [PY, RUST])
@pytest.mark.parametrize("agent", AGENTS)
def test_oracle_edit_passes_through_the_real_agent(runner, tmp_path, agent, task):
    result, folder = run(runner, tmp_path, agent, task)
    assert result.isolation == ("bwrap" if bwrap_path() else "none")
    assert result.passed, (folder / "test_output.txt").read_text()[-2000:]
    assert result.scores["pass_rate"].breakdown["pass"] == 1
    patch = (folder / "diff.patch").read_text()
    for rel, lines in added_lines(task, runner).items():
        assert f"+++ b/{rel}" in patch
        for line in lines:
            assert f"+{line}" in patch, line
    # The agent's own state (config, history, caches) stays in its private HOME.
    assert result.scores["blast_radius"].value == 0, result.scores["blast_radius"].breakdown
    calls = result.model_calls
    assert calls and all(c.status == 200 and c.error is None for c in calls)
    assert all(c.prompt_tokens > 0 for c in calls) and sum(c.completion_tokens for c in calls) > 0
    assert result.scores["tokens"].breakdown["total_tokens"] == sum(c.total_tokens for c in calls) > 0
    # The agent's own count is read from its output and agrees with the proxy's.
    assert result.agent_tokens["agrees"] is True, result.agent_tokens
    assert result.agent_tokens["reported"]["total_tokens"] == sum(c.total_tokens for c in calls)
    assert result.final_output.startswith(("Done", "Here are the changes")), result.final_output
    assert result.agent_version == runner.registry.adapters.get(agent).version
    read_cast(folder)


@pytest.mark.parametrize("agent", AGENTS)
def test_noop_model_fails_the_task(runner, tmp_path, agent):
    result, folder = run(runner, tmp_path, agent, PY, model="scripted/noop")
    assert result.passed is False
    assert result.scores["pass_rate"].breakdown["pass"] == 0
    assert (folder / "diff.patch").read_text().strip() == ""
    assert result.model_calls and result.scores["tokens"].breakdown["total_tokens"] > 0
    assert "done" in result.final_output
    read_cast(folder)


# --------------------------------------------------------------------------- interactive mode


@pytest.mark.parametrize("agent", INTERACTIVE)
def test_interactive_mode_types_the_task_into_the_tui(runner, tmp_path, agent):
    task = runner.catalog.get(PY)
    result, folder = run(runner, tmp_path, agent, PY, mode="interactive", timeout=240)
    assert result.passed and not result.timed_out
    _, events = read_cast(folder)
    typed = "".join(e[2] for e in events if e[1] == "i")
    assert " ".join(task.prompt.split())[:60] in " ".join(typed.split())
    assert "/quit" in typed or "/exit" in typed
    # The TUI drew the conversation: the file written and the model's last words are on screen.
    shown = "".join(e[2] for e in events if e[1] == "o")
    assert "slugify.py" in shown and "Done: updated slugify.py." in shown
    assert result.exit_code == 0
    assert len(result.model_calls) >= 1
    # The answer is kept the moment the TUI shows it, before the driver quits it.
    assert result.final_output.endswith("Done: updated slugify.py."), result.final_output[-500:]
    if agent == "pi":
        assert result.final_output == "Done: updated slugify.py."
    marks = [i for i, e in enumerate(events) if e[1] == "m" and e[2] == "final answer"]
    quit_at = next(i for i, e in enumerate(events) if e[1] == "i" and e[2] in ("/quit", "/exit"))
    assert len(marks) == 1 and marks[0] < quit_at
    if agent == "aider":  # its wrapper prints aider's count after /exit, which the runner reads
        assert result.agent_tokens["agrees"] is True, result.agent_tokens


def test_no_interactive_mode_is_one_line(runner, tmp_path):
    require(runner, "opencode")
    result, _ = runner.run_cell(RunOptions(adapter="opencode", model="scripted/oracle", task=PY, mode="interactive",
                                           results=tmp_path / "results"))
    assert result.status == "infra_error" and "no interactive mode" in result.error


# --------------------------------------------------------------------------- offline, and only the proxy


@pytest.mark.skipif(not bwrap_path(), reason="needs bubblewrap (installed by scripts/setup.sh)")
@pytest.mark.parametrize("agent", AGENTS)
def test_agent_connects_to_nothing_but_the_proxy(runner, tmp_path, agent):
    assert shutil.which("strace"), "strace is missing: run scripts/install-agents.sh"
    result, folder = run(runner, tmp_path, agent, PY, plugins=("strace",))
    assert result.isolation == "bwrap" and result.passed
    targets = inet_targets(connects(folder))
    assert targets, "the agent never reached the proxy?"
    assert {addr for addr, _ in targets} == {"127.0.0.1"}, targets


@pytest.mark.skipif(not bwrap_path(), reason="needs bubblewrap (installed by scripts/setup.sh)")
def test_opencode_unseeded_reaches_for_the_registry_and_the_sandbox_blocks_it(runner, tmp_path):
    """Without the pre-seeded config folder opencode starts an npm install: it must fail offline, the run not."""
    assert shutil.which("strace"), "strace is missing: run scripts/install-agents.sh"
    result, folder = run(runner, tmp_path, "opencode", PY, plugins=("strace",), options={"strace.unseeded": "1"})
    assert result.isolation == "bwrap" and result.passed
    targets = inet_targets(connects(folder))
    outside = [(addr, res) for addr, res in targets if addr != "127.0.0.1"]
    assert outside, "opencode no longer reaches out when unseeded: is the pre-seed still needed?"
    assert all("ENETUNREACH" in res for _, res in outside), outside


# --------------------------------------------------------------------------- provider naming


def test_pi_provider_option_names_the_provider(runner, tmp_path):
    """The reference argv shape: ``--provider nim --model openai/<model>``."""
    result, folder = run(runner, tmp_path, "pi", PY, model="openai/scripted/oracle", options={"provider": "nim"})
    assert result.passed
    assert {c.model for c in result.model_calls} == {"openai/scripted/oracle"}
    argv = next(s.attrs["argv"] for s in result.spans if s.kind == "container")
    i = argv.index("--provider")
    assert argv[i:i + 4] == ["--provider", "nim", "--model", "openai/scripted/oracle"]


def test_opencode_provider_option_names_the_provider(runner, tmp_path):
    result, _ = run(runner, tmp_path, "opencode", PY, model="openai/scripted/oracle", options={"provider": "nim"})
    assert result.passed
    assert {c.model for c in result.model_calls} == {"openai/scripted/oracle"}
    argv = next(s.attrs["argv"] for s in result.spans if s.kind == "container")
    assert "nim/openai/scripted/oracle" in argv


def test_aider_sends_the_model_name_unchanged(runner, tmp_path):
    result, _ = run(runner, tmp_path, "aider", PY, model="openai/scripted/oracle")
    assert result.passed
    assert {c.model for c in result.model_calls} == {"openai/scripted/oracle"}


# --------------------------------------------------------------------------- cab agents


def test_agents_list_and_install_are_idempotent():
    proc = run_cab("agents", "list", "--json", check=True)
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert set(AGENTS) <= set(rows)
    for name in AGENTS:
        assert rows[name]["installed"] is True, f"{name} is not installed: run scripts/install-agents.sh"
        assert Path(rows[name]["path"], "cab-install.json").is_file()
    assert (rows["pi"]["version"], rows["aider"]["version"], rows["opencode"]["version"]) == ("0.73.1", "0.86.2", "1.18.33")
    proc = run_cab("agents", "install", "all", check=True)
    assert proc.stdout.count("already installed") == len(rows)


def test_missing_agent_is_one_line_error(tmp_path):
    env = {"CAB_AGENTS_DIR": str(tmp_path / "empty-cache")}
    proc = run_cab("agents", "list", "--json", env=env, check=True)
    assert {row["name"]: row["installed"] for row in json.loads(proc.stdout)} == {n: False for n in AGENTS}
    for name in AGENTS:
        proc = run_cab("run", "--adapter", name, "-m", "scripted/oracle", "-t", PY, "--results", tmp_path, env=env)
        assert proc.returncode == 2
        assert proc.stderr.strip() == f"Error: {name} is not installed: run 'cab agents install {name}'"
    assert not (tmp_path / "default").exists()  # a missing agent is the user's error, not a cell
    proc = run_cab("agents", "install", "nosuch", env=env)
    assert proc.returncode == 2 and "unknown agent 'nosuch'" in proc.stderr
    proc = run_cab("agents", "install", "all", "--version", "1.0", env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


# --------------------------------------------------------------------------- reading the agents' output


def test_relay_transcripts_give_final_answer_and_usage():
    from cab_adapters import _agents, opencode, pi

    usage = _agents.Usage()
    events = [
        {"type": "message_end", "message": {"role": "assistant", "usage": {"input": 90, "output": 20, "cacheRead": 10},
                                            "content": [{"type": "toolCall", "name": "write", "arguments": {"path": "a.py"}}]}},
        {"type": "tool_execution_end", "toolName": "write", "result": {"content": [{"type": "text", "text": "ok"}]}},
        {"type": "message_end", "message": {"role": "assistant", "usage": {"input": 120, "output": 5},
                                            "content": [{"type": "text", "text": "All done.\nBye."}]}},
    ]
    lines = [line for event in events for line in pi.render(event, usage)] + [usage.line("pi")]
    output = "\r\n".join(lines) + "\r\n"
    assert pi.final_output(output) == "All done.\nBye."
    assert pi.agent_tokens(output) == {"prompt_tokens": 220, "completion_tokens": 25, "total_tokens": 245}

    usage = _agents.Usage()
    events = [
        {"type": "tool_use", "part": {"tool": "bash", "state": {"status": "error", "input": {"command": "ls"}, "error": "boom"}}},
        {"type": "step_finish", "part": {"tokens": {"input": 50, "output": 7, "reasoning": 3, "cache": {"read": 5, "write": 0}}}},
        {"type": "text", "part": {"text": "Finished."}},
    ]
    lines = [line for event in events for line in opencode.render(event, usage)]
    assert lines[:2] == ["→ bash ls", "  ✗ boom"]
    output = "\n".join(lines + [usage.line("opencode")])
    assert opencode.final_output(output) == "Finished."
    assert opencode.agent_tokens(output) == {"prompt_tokens": 55, "completion_tokens": 10, "total_tokens": 65}
    assert _agents.reported_usage("no usage here") is None


def test_install_never_clears_a_folder_that_is_not_an_agent_install(tmp_path):
    from cab_core.agents import InstallError, mark_installed, prepare_prefix

    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(InstallError, match="holds no agent install"):
        prepare_prefix(precious)
    assert (precious / "notes.txt").read_text() == "keep me"
    mark_installed(precious, name="x", version="1")  # an earlier install there may be replaced
    assert list(prepare_prefix(precious).iterdir()) == []
