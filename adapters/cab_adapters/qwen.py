"""The ``qwen`` adapter: Qwen Code (npm ``@qwen-code/qwen-code``), a Gemini CLI fork, run one-shot.

It speaks OpenAI Chat Completions with ``--auth-type openai``: ``OPENAI_BASE_URL`` is
the proxy's ``/v1``, ``OPENAI_API_KEY`` the key and ``OPENAI_MODEL`` (and ``-m``) the
cell's model.  Nothing else is asked for: no Qwen OAuth login (the default auth type,
which would open a browser, is never selected).

Gotchas:

* ``~/.qwen/settings.json`` selects the ``openai`` auth and turns off auto-update,
  usage statistics, telemetry and folder trust; ``QWEN_CODE_NO_RELAUNCH`` spares a
  second node process; ``QWEN_CODE_SUPPRESS_YOLO_WARNING`` its banner about yolo
  without its own sandbox (cab's sandbox is the sandbox).
* Managed auto-memory is off: after every run it would spend one more model call
  (~12k tokens) writing "memories" into the cell's HOME, which no later cell sees.
* Its ``write_file`` refuses to overwrite a file not read in the session; the
  scripted oracle reads it and writes again (:mod:`cab_core.endpoint.scripted.read_first`).
* The prompt is the positional argument (``-p`` is deprecated); one starting with ``-``
  gets a leading space, or yargs would read it as options (and after ``--`` it is not
  the prompt at all: "No input provided via stdin").
* ``--output-format stream-json`` is Claude Code's event shape (``assistant`` and
  ``user`` messages with ``tool_use``/``tool_result`` blocks, a final ``result`` with
  ``usage``); the ``result`` usage is the agent's own count for the cross-check.
* Its package asks for Node >= 22 but runs on the host's Node 20; its image has 22.
* Headless only: its TUI (Gemini CLI's) is not driven yet (see :mod:`cab_adapters.gemini`).
"""

from __future__ import annotations

import json

from cab_core import LaunchContext

from . import _agents, _base

def settings(ctx: LaunchContext) -> dict:
    """``~/.qwen/settings.json``: the OpenAI-compatible auth, the cell's model, nothing phoning home."""
    return {
        "general": {"enableAutoUpdate": False},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "security": {"auth": {"selectedType": "openai"}, "folderTrust": {"enabled": False}},
        "model": {"name": ctx.model},
        # Background model calls that are not the task: memory extraction and its consolidation after
        # each run (a second call of ~12k tokens into ~/.qwen/memories), tool-batch labels in the TUI.
        "memory": {"enableManagedAutoMemory": False, "enableManagedAutoDream": False},
        "experimental": {"emitToolUseSummaries": False},
    }


def argv(ctx: LaunchContext) -> list:
    prompt = ctx.task.prompt
    # yargs reads a leading "-" as an option, and puts anything after "--" out of the prompt's reach.
    return ["--auth-type", "openai", "-m", ctx.model, "--approval-mode", "yolo", "--output-format", "stream-json",
            " " + prompt if prompt.startswith("-") else prompt]


def render(event: dict, usage: _agents.Usage):
    """Transcript lines for one ``stream-json`` event (and the agent's own total from ``result``)."""
    kind = event.get("type")
    blocks = (event.get("message") or {}).get("content") if kind in ("assistant", "user") else None
    for block in blocks if isinstance(blocks, list) else ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and str(block.get("text") or "").strip():
            yield str(block["text"]).strip()
        elif block.get("type") == "tool_use":
            yield _agents.tool_summary(str(block.get("name") or "?"), block.get("input"))
        elif block.get("type") == "tool_result":
            content = block.get("content")
            text = content if isinstance(content, str) else json.dumps(content)
            yield f"{_agents.ERR_MARK if block.get('is_error') else _agents.OK_MARK}{_agents.clip(text or 'done')}"
    if kind == "result":
        tokens = event.get("usage") or {}
        prompt = int(tokens.get("input_tokens") or 0) + int(tokens.get("cache_read_input_tokens") or 0)
        usage.add(prompt, int(tokens.get("output_tokens") or 0))
        if event.get("is_error"):
            yield f"{_agents.ERR_MARK}error: {_agents.clip(str(event.get('result') or event.get('subtype')))}"


config = _base.json_config("~/.qwen/settings.json", settings)


AGENT = _base.InstalledAgent(
    name="qwen", package="@qwen-code/qwen-code", pinned="0.24.4", installer="npm",
    binary="node_modules/.bin/qwen", protocol="chat", module=__name__,
    description="Qwen Code (@qwen-code/qwen-code), headless one-shot with stream-json events",
    env={"QWEN_CODE_NO_RELAUNCH": "true", "QWEN_CODE_SUPPRESS_YOLO_WARNING": "1", "NO_BROWSER": "true"},
    cell_env=lambda ctx: {"OPENAI_BASE_URL": AGENT.endpoint(ctx), "OPENAI_API_KEY": ctx.api_key, "OPENAI_MODEL": ctx.model},
    config=config, argv=argv, render=render,
)
run_version, final_output, agent_tokens = AGENT.run_version, AGENT.final, AGENT.tokens


cab_adapters = AGENT.hook()


if __name__ == "__main__":
    AGENT.main()
