"""The ``pi`` adapter: Mario Zechner's pi coding agent (npm ``@mariozechner/pi-coding-agent``).

pi reads custom providers from ``$PI_CODING_AGENT_DIR/models.json``; the cell gets
one provider (``cab``, or ``-o provider=NAME``) whose only model is the cell's model,
served at the recording proxy.  Headless, it runs ``pi --print --mode json`` under
the relay (see :mod:`cab_adapters._agents`): the terminal shows a readable
transcript, and pi's own per-message ``usage`` is summed for the token cross-check.
``--mode interactive`` drives pi's TUI instead: it waits for the editor, types the
task, waits until pi is idle and quits with ``/quit``.

Options: ``-o provider=NAME`` (e.g. ``nim`` with ``-m openai/gpt-oss-120b``),
``-o context_window=N``, ``-o max_tokens=N``, ``-o reasoning=true`` (the model thinks),
``-o idle_seconds=S`` (interactive: quiet time that means pi is done, default 3).
"""

from __future__ import annotations

import json

from cab_core import AdapterOption, LaunchContext

from . import _agents, _base, _tui

AGENT_DIR = ".pi/agent"
#: No changelog, tips or install ping on start: the recording shows the task, not pi's news.
SETTINGS = {"quietStartup": True, "collapseChangelog": True, "enableInstallTelemetry": False}


def config(ctx: LaunchContext) -> dict:
    """pi's ``models.json`` (one provider, one model: the cell's, at the proxy) and ``settings.json``."""
    model = {
        "id": ctx.model,
        "name": ctx.model,
        "reasoning": ctx.options.get("reasoning", "false").lower() in ("1", "true", "yes"),
        "input": ["text"],
        "contextWindow": int(ctx.options.get("context_window", 128000)),
        "maxTokens": int(ctx.options.get("max_tokens", 16000)),
        "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
    }
    provider = {"baseUrl": AGENT.endpoint(ctx), "api": "openai-completions", "apiKey": ctx.api_key, "models": [model]}
    models = {"providers": {ctx.options.get("provider", "cab"): provider}}
    return {f"~/{AGENT_DIR}/models.json": json.dumps(models, indent=2) + "\n",
            f"~/{AGENT_DIR}/settings.json": json.dumps(SETTINGS) + "\n"}


def argv(ctx: LaunchContext) -> list:
    """``pi --print --mode json ... PROMPT`` headless (under the relay), plain ``pi ...`` for the TUI."""
    common = ["--no-session", "--offline", "--provider", ctx.options.get("provider", "cab"), "--model", ctx.model]
    return common if ctx.mode == "interactive" else ["--print", "--mode", "json", *common, ctx.task.prompt]


def render(event: dict, usage: _agents.Usage):
    """Transcript lines for one ``pi --mode json`` event (and add up its usage)."""
    kind = event.get("type")
    if kind == "message_end":
        message = event.get("message") or {}
        if message.get("role") != "assistant":
            return
        counts = message.get("usage") or {}
        if counts:
            prompt = sum(int(counts.get(k) or 0) for k in ("input", "cacheRead", "cacheWrite"))
            usage.add(prompt, int(counts.get("output") or 0))
        for part in message.get("content") or ():
            if part.get("type") == "text" and part.get("text", "").strip():
                yield part["text"].rstrip()
            elif part.get("type") == "toolCall":
                yield _agents.tool_summary(part.get("name", "?"), part.get("arguments"))
        if message.get("stopReason") == "error" or message.get("errorMessage"):
            yield f"{_agents.ERR_MARK}model error: {_agents.clip(message.get('errorMessage') or 'unknown')}"
    elif kind == "tool_execution_end":
        result = event.get("result") or {}
        text = "\n".join(p.get("text", "") for p in result.get("content") or () if isinstance(p, dict))
        mark = _agents.ERR_MARK if event.get("isError") else _agents.OK_MARK
        yield f"{mark}{_agents.clip(text) or event.get('toolName', '')}"


def interactive(child, cast, ctx: LaunchContext) -> None:
    """Drive pi's TUI: ready once its footer names the model, busy while it shows "Working", ``/quit``."""
    _tui.drive_screen(child, cast, ctx, ready=lambda shown: ctx.model in shown, busy="Working", quit="/quit", idle=3)


AGENT = _base.InstalledAgent(
    name="pi", package="@mariozechner/pi-coding-agent", pinned="0.73.1", installer="npm",
    binary="node_modules/.bin/pi", protocol="chat", module=__name__,
    description="pi coding agent (@mariozechner/pi-coding-agent), headless --print --mode json or its TUI",
    env={"PI_OFFLINE": "1", "PI_TELEMETRY": "0"},
    cell_env=lambda ctx: {"PI_CODING_AGENT_DIR": str(ctx.home / AGENT_DIR)},
    config=config, argv=argv, render=render, interactive=interactive,
    options=[_base.CONTEXT_WINDOW, _base.MAX_TOKENS, _base.PROVIDER,
             AdapterOption(name="reasoning", type="bool", default=False, help="mark the model as a reasoning model"),
             _base.idle_seconds(3), _base.INTERACTIVE_TIMEOUT],
)
run_version = AGENT.run_version
final_output, agent_tokens = AGENT.final, AGENT.tokens


cab_adapters = AGENT.hook()


if __name__ == "__main__":
    AGENT.main()
