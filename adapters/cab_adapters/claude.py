"""The ``claude`` adapter: Anthropic's Claude Code (npm ``@anthropic-ai/claude-code``), run as ``claude -p``.

Claude Code speaks Anthropic Messages: ``ANTHROPIC_BASE_URL`` is the proxy's root (the
SDK adds ``/v1/messages``) and ``ANTHROPIC_API_KEY`` the cell's dummy key, which ``-p``
uses without asking (no login, no OAuth).  Every model alias it may reach for on its
own (haiku for small jobs, subagents) is pinned to the cell's model, so no request goes
to a model the cell did not choose.

Gotchas:

* The npm package is a ~400 MB Bun-compiled binary (``@anthropic-ai/claude-code-linux-x64``,
  an optional dependency); Node's version does not matter even though the package asks
  for 22.
* ``--dangerously-skip-permissions`` refuses to run as root unless ``IS_SANDBOX=1``; cab's
  sandbox is the deliberate sandbox that variable declares.
* ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC`` covers telemetry, error reports, the
  auto-updater, release notes and model-capability fetches; the single switches are set
  too, for versions that read only those.
* An unknown model name is taken as a 1M-token context window (it prints
  ``[claude-code:unrecognized_model]`` on stderr, harmlessly); ``-o max_tokens=N`` sets
  ``CLAUDE_CODE_MAX_OUTPUT_TOKENS`` for real models with a smaller output limit.
* State (``~/.claude.json``, ``~/.claude/``: sessions, backups) stays in the cell's HOME.

Headless, ``claude -p --output-format stream-json --verbose`` runs under the relay: the
transcript shows its text and tool calls, and the ``result`` event's ``usage`` (the
whole run's count) is the agent's own token count for the cross-check.
"""

from __future__ import annotations

from cab_core import LaunchContext, hookimpl

from . import _agents, _base

ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_BUG_COMMAND": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
    "IS_SANDBOX": "1",
}
#: Variables naming a model Claude Code may pick by itself: all become the cell's model.
MODEL_VARS = ("ANTHROPIC_MODEL", "ANTHROPIC_SMALL_FAST_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL",
              "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL", "CLAUDE_CODE_SUBAGENT_MODEL")


def cell_env(ctx: LaunchContext) -> dict:
    """The endpoint (root), the key, every model alias, the output limit, and the config folder in HOME."""
    env = {"ANTHROPIC_BASE_URL": AGENT.endpoint(ctx), **AGENT.key_env(ctx), **{v: ctx.model for v in MODEL_VARS},
           "CLAUDE_CONFIG_DIR": str(ctx.home / ".claude")}
    if ctx.options.get("max_tokens"):
        env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(ctx.options["max_tokens"])
    return env


def argv(ctx: LaunchContext) -> list:
    """``claude -p PROMPT --model M --output-format stream-json --verbose --dangerously-skip-permissions``."""
    return ["-p", ctx.task.prompt, "--model", ctx.model, "--output-format", "stream-json", "--verbose",
            "--dangerously-skip-permissions"]


def _result_text(content) -> str:
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


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
                mark = _agents.ERR_MARK if block.get("is_error") else _agents.OK_MARK
                yield f"{mark}{_agents.clip(_result_text(block.get('content'))) or 'done'}"
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
    env=ENV, cell_env=cell_env, argv=argv, render=render,
    needs=["node_modules/@anthropic-ai/claude-code-linux-*/claude"],
    options=[_base.MAX_TOKENS],
)
run_version, final_output, agent_tokens = AGENT.run_version, AGENT.final, AGENT.tokens


@hookimpl
def cab_adapters():
    return [AGENT.adapter()]


if __name__ == "__main__":
    AGENT.main()
