"""The cline adapter's own logic, on events a real Cline 3.0.65 printed (no agent runs here).

The real runs (oracle/noop on Python and Rust, loopback only) are in tests/test_agents.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from cab_adapters import cline
from cab_adapters._agents import Usage, reported_usage
from cab_core import LaunchContext
from cab_core.models import Task

EVENTS = Path(__file__).parent / "data" / "agents" / "cline-3.0.65-oracle.jsonl"


def _transcript(lines):
    usage = Usage()
    out = [text for line in lines for text in cline.render(json.loads(line), usage)]
    return out + [usage.line("cline")], usage


def test_a_real_run_renders_as_a_transcript_with_clines_own_token_total():
    out, usage = _transcript(EVENTS.read_text().splitlines())
    assert out[0].startswith("→ run_commands mkdir -p ")
    assert out[1] == "  ✓ done"
    assert out[2] == "Done: updated slugify.py."
    # run_result's aggregateUsage, counted once (not also the per-call usage events).
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reports) == (14340, 484, 1)
    assert reported_usage("\n".join(out))["total_tokens"] == 14824


def test_a_failed_run_says_so():
    line = json.dumps({"type": "run_result", "finishReason": "error", "iterations": 1,
                       "aggregateUsage": {"inputTokens": 0, "outputTokens": 0}})
    out, _ = _transcript([line])
    assert out[0] == "  ✗ run ended: error"


def test_final_output_leaves_out_the_sdk_warnings():
    output = ("→ run_commands mkdir -p x\n  ✓ done\nDone: updated slugify.py.\n"
              "DeprecationWarning: AI SDK Warning (openai-compatible.chat / m): Deprecated.\n"
              "      at iX (/$bunfs/root/chunk.js:26:46952)\n      at J0 (/$bunfs/root/chunk.js:26:47251)\n\n"
              "[cab] cline reported usage: prompt 1, completion 2, total 3\n")
    assert cline.final_output(output) == "Done: updated slugify.py."


def test_config_keeps_the_url_and_key_cline_would_otherwise_drop(tmp_path):
    task = Task(id="demo/x", prompt="fix it", workspace=tmp_path, language="python", test_command="pytest")
    ctx = LaunchContext(task=task, model="scripted/oracle", workdir=tmp_path / "w", home=tmp_path / "h",
                        base_url="http://127.0.0.1:9/v1", api_key="sk-cab")
    files = cline.config(ctx)
    entry = json.loads(files["~/.cline/data/settings/providers.json"])["providers"]["openai-compatible"]
    assert entry["settings"] == {"provider": "openai-compatible", "apiKey": "sk-cab", "model": "scripted/oracle",
                                 "baseUrl": "http://127.0.0.1:9/v1"}
    assert entry["updatedAt"]  # without it Cline drops the entry
    settings = json.loads(files["~/.cline/data/settings/global-settings.json"])
    assert settings == {"telemetryOptOut": True, "autoUpdateEnabled": False}
    # A fresh, empty feature-flag cache: Cline then asks no flag service.
    flags = json.loads(files["~/.cline/data/cache/feature-flags.json"])
    assert flags["flagsPayload"] == {"featureFlags": {}, "featureFlagPayloads": {}}
    assert abs(flags["updatedAt"] / 1000 - time.time()) < 60


def test_argv_keeps_the_session_in_process(tmp_path):
    task = Task(id="demo/x", prompt="fix it", workspace=tmp_path, language="python", test_command="pytest")
    ctx = LaunchContext(task=task, model="m", workdir=tmp_path / "w", home=tmp_path / "h",
                        base_url="http://127.0.0.1:9/v1", api_key="sk-cab")
    args = cline.argv(ctx)
    assert args[args.index("--data-dir") + 1] == str(tmp_path / "h/.cline/data")  # no detached hub daemon
    assert args[-1] == "fix it" and "sk-cab" not in args


def test_version_of_reads_the_version_line_not_a_hint_after_it(tmp_path):
    """Copilot CLI prints an update hint after its version; the install check must see the version."""
    from cab_core.agents import version_of

    script = tmp_path / "agent"
    script.write_text("#!/bin/sh\necho 'GitHub Copilot CLI 1.0.102.'\necho \"Run 'copilot update' to check for updates.\"\n")
    script.chmod(0o755)
    assert version_of([str(script)]) == "GitHub Copilot CLI 1.0.102."
    script.write_text("#!/bin/sh\necho no version here\n")
    assert version_of([str(script)]) == "no version here"
