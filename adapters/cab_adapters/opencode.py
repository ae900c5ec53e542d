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
import shutil
from pathlib import Path
from typing import Optional

from cab_core import Adapter, AdapterOption, LaunchContext, LaunchSpec, hookimpl
from cab_core.agents import npm_install
from cab_core.errors import CabError

from . import _agents

NAME = "opencode"
PACKAGE = "opencode-ai"
PINNED = "1.18.33"
BIN = Path("node_modules/.bin/opencode")
#: A config folder with @opencode-ai/plugin installed, copied into each cell.
TEMPLATE = Path("config-template")
PLUGIN_PACKAGE = "@opencode-ai/plugin"
CONFIG_FILE = ".cab/opencode.json"
#: What opencode reads from the environment in a cell (XDG folders are added per cell).
ENV = {
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_CLAUDE_CODE": "1",
}


def run_version() -> str:
    """The version cells run: the pin, or ``$CAB_OPENCODE_VERSION``."""
    return _agents.version_from_env(NAME, PINNED)


def _scratch_env(root: Path) -> dict:
    return {"HOME": str(root), "XDG_CONFIG_HOME": str(root / "config"), "XDG_DATA_HOME": str(root / "data"),
            "XDG_CACHE_HOME": str(root / "cache"), "XDG_STATE_HOME": str(root / "state"), **ENV}


def install(version: Optional[str] = None, prefix: Optional[Path] = None, force: bool = False) -> Path:
    """Install opencode ``version`` and its config template into the agent cache; returns its folder."""
    version = version or run_version()

    def steps(prefix: Path) -> dict:
        npm_install(prefix, f"{PACKAGE}@{version}")
        # The plugin API package at opencode's own version: what opencode would install itself.
        npm_install(prefix / TEMPLATE, f"{PLUGIN_PACKAGE}@{version}")
        scratch = prefix / ".version-check"
        _agents.check_version(NAME, version, [str(prefix / BIN), "--version"], env=_scratch_env(scratch))
        shutil.rmtree(scratch, ignore_errors=True)
        return {"package": f"{PACKAGE}@{version}", "config_template": f"{PLUGIN_PACKAGE}@{version}"}

    return _agents.install_agent(NAME, version, prefix, force, steps)


def is_installed() -> bool:
    """Whether the version cells run is in the agent cache (with its config template)."""
    version = run_version()
    return _agents.installed(NAME, version, BIN) and _agents.installed(NAME, version, TEMPLATE / "node_modules")


def config(ctx: LaunchContext, provider: str) -> dict:
    """opencode's config for a cell: one provider, one model, nothing that reaches out."""
    if not ctx.base_url:
        raise CabError("the opencode adapter needs a model endpoint (the recording proxy's base URL)")
    model = {"name": ctx.model, "limit": {"context": int(ctx.options.get("context_window", 128000)),
                                          "output": int(ctx.options.get("max_tokens", 16000))}}
    return {
        "$schema": "https://opencode.ai/config.json",
        "provider": {provider: {"npm": "@ai-sdk/openai-compatible", "name": provider,
                                "options": {"baseURL": ctx.base_url, "apiKey": ctx.api_key},
                                "models": {ctx.model: model}}},
        "model": f"{provider}/{ctx.model}",
        "autoupdate": False,
        "share": "disabled",
    }


def build_launch(ctx: LaunchContext) -> LaunchSpec:
    """``opencode run --format json`` (under the relay) with a pre-seeded config folder in HOME."""
    version = run_version()
    opencode = _agents.require(NAME, version, BIN, ctx)
    template = _agents.require(NAME, version, TEMPLATE / "node_modules", ctx).parent
    provider = ctx.options.get("provider", "cab")
    home = ctx.home
    xdg = {"XDG_CONFIG_HOME": home / ".config", "XDG_DATA_HOME": home / ".local/share",
           "XDG_CACHE_HOME": home / ".cache", "XDG_STATE_HOME": home / ".local/state"}
    files = {f"~/{CONFIG_FILE}": json.dumps(config(ctx, provider), indent=2) + "\n"}
    # The template's manifests are copied inside the sandbox: under docker they are in the image only.
    copies = [(template / m, xdg["XDG_CONFIG_HOME"] / "opencode" / m) for m in ("package.json", "package-lock.json")]
    env = {**ENV, **{k: str(v) for k, v in xdg.items()}, "OPENCODE_CONFIG": str(home / CONFIG_FILE)}
    argv = [str(opencode), "run", "--format", "json", "--title", ctx.task.name, "-m", f"{provider}/{ctx.model}"]
    if ctx.options.get("agent"):
        argv += ["--agent", ctx.options["agent"]]
    argv.append(ctx.task.prompt)
    links = [(template / "node_modules", xdg["XDG_CONFIG_HOME"] / "opencode" / "node_modules")]
    return LaunchSpec(argv=_agents.relay_argv(__name__, argv, links=links, copies=copies), env=env, files=files)


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


def final_output(output: str) -> str:
    """opencode's final answer: the transcript's text after its last tool call."""
    return _agents.transcript_final(output) or _agents.strip_ansi(output)[-2000:].strip()


def agent_tokens(output: str) -> Optional[dict]:
    """opencode's own token count (summed over its steps), from the relay's last line."""
    return _agents.reported_usage(output)


@hookimpl
def cab_adapters():
    return [
        Adapter(
            name=NAME,
            build_launch=build_launch,
            version=run_version(),
            image=f"cab/{NAME}:{run_version()}",  # built by 'cab images build --adapter opencode'
            description=f"opencode ({PACKAGE}) as 'opencode run', fully offline",
            final_output=final_output,
            agent_tokens=agent_tokens,
            install=install,
            is_installed=is_installed,
            mounts=_agents.install_mounts(NAME, run_version),
            options=[AdapterOption(name="context_window", type="int", default=128000, help="the model's context window in tokens"), AdapterOption(name="max_tokens", type="int", default=16000, help="the most tokens one reply may have"), AdapterOption(name="provider", default="cab", help="the provider name the agent's config uses (e.g. nim)"),
                     AdapterOption(name="agent", help="opencode's --agent")],
        )
    ]


if __name__ == "__main__":
    _agents.relay_entry(NAME, render)
