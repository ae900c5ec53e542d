"""The ``opencode`` adapter: sst's opencode (npm ``opencode-ai``), run as ``opencode run``.

The cell's model is a custom provider (``cab``, or ``-o provider=NAME``) on the
``@ai-sdk/openai-compatible`` SDK, which opencode bundles, pointing at the recording
proxy; the config file, opencode's state (``XDG_*``: about 1.4 MB of database,
logs and work-tree snapshots per run) and its config folder all live in the cell's
private HOME.

Offline on purpose: every run of opencode starts a background ``npm install
@opencode-ai/plugin`` in its config folder unless that folder already has a
``node_modules`` and a ``package-lock.json`` naming the package.  The install step
puts such a folder in the agent cache (``config-template``); each cell gets copies of
its two manifests and a link to its ``node_modules``, so no run reaches a registry
(the sandbox would block it anyway).  Models are never fetched from models.dev
(``OPENCODE_DISABLE_MODELS_FETCH``), there is no auto-update, no LSP download, no
sharing.  ``--title`` is always given: without it opencode asks the model for one
more request, a title.

Headless, ``opencode run --format json`` runs under the relay (see
:mod:`cab_adapters._agents`): the terminal shows a transcript, and the tokens opencode
reports per step are summed for the cross-check.

Options: ``-o provider=NAME``, ``-o context_window=N``, ``-o max_tokens=N``, ``-o agent=NAME``
(opencode's agent, default ``build``).
"""

from __future__ import annotations

import json
from pathlib import Path

from cab_core import AdapterOption, LaunchContext
from cab_core.agents import npm_install

from . import _agents, _base

#: A config folder with @opencode-ai/plugin installed, copied into each cell.
TEMPLATE = Path("config-template")
PLUGIN_PACKAGE = "@opencode-ai/plugin"
CONFIG_FILE = ".cab/opencode.json"
#: What opencode reads from the environment in a cell (XDG folders are added per cell).
ENV = {f"OPENCODE_DISABLE_{what}": "1" for what in ("MODELS_FETCH", "AUTOUPDATE", "LSP_DOWNLOAD", "SHARE", "CLAUDE_CODE")}
XDG = {"XDG_CONFIG_HOME": ".config", "XDG_DATA_HOME": ".local/share", "XDG_CACHE_HOME": ".cache", "XDG_STATE_HOME": ".local/state"}


def install_template(prefix: Path, version: str) -> dict:
    """The plugin API package at opencode's own version: what opencode would install itself."""
    npm_install(prefix / TEMPLATE, f"{PLUGIN_PACKAGE}@{version}")
    return {"config_template": f"{PLUGIN_PACKAGE}@{version}"}


def config(ctx: LaunchContext) -> dict:
    """opencode's config for a cell: one provider, one model, nothing that reaches out."""
    provider = ctx.options.get("provider", "cab")
    model = {"name": ctx.model, "limit": {"context": int(ctx.options.get("context_window", 128000)),
                                          "output": int(ctx.options.get("max_tokens", 16000))}}
    settings = {"$schema": "https://opencode.ai/config.json", "model": f"{provider}/{ctx.model}",
                "provider": {provider: {"npm": "@ai-sdk/openai-compatible", "name": provider,
                                        "options": {"baseURL": AGENT.endpoint(ctx), "apiKey": ctx.api_key},
                                        "models": {ctx.model: model}}},
                "autoupdate": False, "share": "disabled"}
    return {f"~/{CONFIG_FILE}": json.dumps(settings, indent=2) + "\n"}


def argv(ctx: LaunchContext) -> list:
    """``opencode run --format json --title NAME -m PROVIDER/MODEL [--agent A] PROMPT`` (under the relay)."""
    args = ["run", "--format", "json", "--title", ctx.task.name, "-m", f"{ctx.options.get('provider', 'cab')}/{ctx.model}"]
    return args + (["--agent", ctx.options["agent"]] if ctx.options.get("agent") else []) + [ctx.task.prompt]


def config_dir(ctx: LaunchContext) -> Path:
    return ctx.home / XDG["XDG_CONFIG_HOME"] / "opencode"


def render(event: dict, usage: _agents.Usage):
    """Transcript lines for one ``opencode run --format json`` event (and add up its tokens)."""
    kind = event.get("type")
    part = event.get("part") or {}
    if kind == "text" and (part.get("text") or "").strip():
        yield part["text"].rstrip()
    elif kind == "tool_use":
        state = part.get("state") or {}
        yield _agents.tool_summary(part.get("tool", "?"), state.get("input"))
        if state.get("status") == "error":
            yield f"{_agents.ERR_MARK}{_agents.clip(str(state.get('error') or 'failed'))}"
        else:
            yield f"{_agents.OK_MARK}{_agents.clip(str(state.get('output') or state.get('title') or 'done'))}"
    elif kind == "step_finish":
        tokens = part.get("tokens") or {}
        cache = tokens.get("cache") or {}
        prompt = int(tokens.get("input") or 0) + int(cache.get("read") or 0) + int(cache.get("write") or 0)
        usage.add(prompt, int(tokens.get("output") or 0) + int(tokens.get("reasoning") or 0))
    elif kind == "error":
        error = event.get("error") or {}
        message = (error.get("data") or {}).get("message") if isinstance(error, dict) else None
        yield f"{_agents.ERR_MARK}error: {_agents.clip(str(message or error))}"



AGENT = _base.InstalledAgent(
    name="opencode", package="opencode-ai", pinned="1.18.33", installer="npm", binary="node_modules/.bin/opencode",
    protocol="chat", module=__name__, description="opencode (opencode-ai) as 'opencode run', fully offline", env=ENV,
    cell_env=lambda ctx: {**{k: str(ctx.home / v) for k, v in XDG.items()}, "OPENCODE_CONFIG": str(ctx.home / CONFIG_FILE)},
    config=config, argv=argv, render=render, more_install=install_template, needs=[TEMPLATE / "node_modules"],
    image_args=lambda version: {"EXTRA": f"{TEMPLATE}={PLUGIN_PACKAGE}@{version}"},
    # The template's manifests are copied inside the sandbox: under docker they are in the image only.
    links=lambda ctx, prefix: [(prefix / TEMPLATE / "node_modules", config_dir(ctx) / "node_modules")],
    copies=lambda ctx, prefix: [(prefix / TEMPLATE / m, config_dir(ctx) / m) for m in ("package.json", "package-lock.json")],
    options=[_base.CONTEXT_WINDOW, _base.MAX_TOKENS, _base.PROVIDER, AdapterOption(name="agent", help="opencode's --agent")],
)
run_version, final_output, agent_tokens = AGENT.run_version, AGENT.final, AGENT.tokens


cab_adapters = AGENT.hook()


if __name__ == "__main__":
    AGENT.main()
