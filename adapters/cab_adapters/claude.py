"""The ``claude`` adapter: Anthropic's Claude Code (npm ``@anthropic-ai/claude-code``), run as ``claude -p``.

Claude Code speaks Anthropic Messages: ``ANTHROPIC_BASE_URL`` is the proxy's root (the
SDK adds ``/v1/messages``) and ``ANTHROPIC_API_KEY`` the cell's dummy key, which ``-p``
uses without asking (no login, no OAuth).  Every model alias it may reach for on its
own (haiku for small jobs, subagents) is pinned to the cell's model, so no request goes
to a model the cell did not choose.

Gotchas:

* The package is a ~400 MB Bun binary (optional dependency ``@anthropic-ai/claude-code-linux-x64``):
  Node's version does not matter although the package asks for 22.
* ``--dangerously-skip-permissions`` refuses to run as root unless ``IS_SANDBOX=1``; cab's
  sandbox is the deliberate sandbox that variable declares.
* ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC`` covers telemetry, error reports, the updater,
  release notes and model-capability fetches; the single switches are set too.
* An unknown model name is taken as a 1M-token context window (it prints
  ``[claude-code:unrecognized_model]`` on stderr, harmlessly); ``-o max_tokens=N`` sets
  ``CLAUDE_CODE_MAX_OUTPUT_TOKENS`` for real models with a smaller output limit.
* Auto memory is off: its folder, named after the work dir with ``/`` as ``-``, put the
  cell's temporary path into the system prompt, where replay's placeholders miss it.
* State (``~/.claude.json``, ``~/.claude/``: sessions, backups) stays in the cell's HOME.
  The TUI needs ``~/.claude.json`` pre-seeded: onboarding done, the key's last 20
  characters approved, the work dir trusted, bypass mode accepted; else it asks.

Headless, ``claude -p --output-format stream-json --verbose`` runs under the relay; the
``result`` event's ``usage`` (the whole run's count) is the agent's own token count.
``--mode interactive`` drives the TUI (see :func:`interactive`).
"""

from __future__ import annotations

import json

from cab_core import LaunchContext

from . import _agents, _base, _tui

ENV = {v: "1" for v in ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "DISABLE_TELEMETRY", "DISABLE_AUTOUPDATER",
                         "DISABLE_ERROR_REPORTING", "DISABLE_BUG_COMMAND", "CLAUDE_CODE_DISABLE_TERMINAL_TITLE", "IS_SANDBOX",
                         "CLAUDE_CODE_DISABLE_AUTO_MEMORY")}
#: Variables naming a model Claude Code may pick by itself: all become the cell's model.
MODEL_VARS = ("ANTHROPIC_MODEL", "ANTHROPIC_SMALL_FAST_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL",
              "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL", "CLAUDE_CODE_SUBAGENT_MODEL")


def cell_env(ctx: LaunchContext) -> dict:
    """The endpoint (root), the key, every model alias and the output limit."""
    env = {"ANTHROPIC_BASE_URL": AGENT.endpoint(ctx), **AGENT.key_env(ctx), **{v: ctx.model for v in MODEL_VARS}}
    if ctx.options.get("max_tokens"):
        env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(ctx.options["max_tokens"])
    return env


def config(ctx: LaunchContext) -> dict:
    """``~/.claude.json`` with every first-run question answered (the TUI asks them; ``-p`` does not)."""
    state = {"hasCompletedOnboarding": True, "theme": "dark", "bypassPermissionsModeAccepted": True,
             "customApiKeyResponses": {"approved": [ctx.api_key[-20:]], "rejected": []},
             "projects": {str(ctx.workdir): {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}}}
    return {"~/.claude.json": json.dumps(state, indent=2) + "\n",
            "~/.claude/settings.json": json.dumps({"skipDangerousModePermissionPrompt": True}) + "\n"}


def argv(ctx: LaunchContext) -> list:
    """``claude -p PROMPT --model M --output-format stream-json --verbose --dangerously-skip-permissions`` (TUI: no ``-p``)."""
    common = ["--model", ctx.model, "--dangerously-skip-permissions"]
    return common if ctx.mode == "interactive" else ["-p", ctx.task.prompt, *common, "--output-format", "stream-json",
                                                       "--verbose"]


def interactive(child, cast, ctx: LaunchContext) -> None:
    """Drive the TUI: ready once the footer shows bypass mode, busy while it offers "esc to interrupt", ``/exit``."""
    _tui.drive_screen(child, cast, ctx, ready=lambda shown: "bypass permissions on" in shown, busy="esc to interrupt",
                      quit="/exit", idle=3,
                      answer=lambda text: _tui.last_block(text, start="● ", stop="✻"))



def render(event: dict, usage: _agents.Usage):
    """Transcript lines for one ``stream-json`` event; the ``result`` event's usage is the run's total."""
    kind = event.get("type")
    if kind in ("assistant", "user"):
        for block in (event.get("message") or {}).get("content") or ():
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and str(block.get("text", "")).strip():
                yield block["text"].rstrip()
            elif block.get("type") == "tool_use":
                yield _agents.tool_summary(block.get("name", "?"), block.get("input"))
            elif block.get("type") == "tool_result":
                content = block.get("content")
                text = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict)) \
                    if isinstance(content, list) else str(content or "")
                yield f"{_agents.ERR_MARK if block.get('is_error') else _agents.OK_MARK}{_agents.clip(text) or 'done'}"
    elif kind == "result":
        counts = event.get("usage") or {}
        prompt = sum(int(counts.get(k) or 0) for k in ("input_tokens", "cache_creation_input_tokens",
                                                         "cache_read_input_tokens"))
        usage.add(prompt, int(counts.get("output_tokens") or 0))
        if event.get("is_error"):
            yield f"{_agents.ERR_MARK}error: {_agents.clip(str(event.get('result') or event.get('subtype')))}"


AGENT = _base.InstalledAgent(
    name="claude", package="@anthropic-ai/claude-code", pinned="2.1.332", installer="npm",
    binary="node_modules/.bin/claude", protocol="messages", module=__name__,
    description="Claude Code (@anthropic-ai/claude-code) as 'claude -p', Anthropic Messages, no login",
    env=ENV, cell_env=cell_env, config=config, argv=argv, render=render, interactive=interactive,
    needs=["node_modules/@anthropic-ai/claude-code-linux-*/claude"],
    options=[_base.MAX_TOKENS, _base.idle_seconds(3), _base.INTERACTIVE_TIMEOUT],
)
run_version, final_output, agent_tokens = AGENT.run_version, AGENT.final, AGENT.tokens


cab_adapters = AGENT.hook()


if __name__ == "__main__":
    AGENT.main()
