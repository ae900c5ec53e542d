"""The ``gemini`` adapter: Google's Gemini CLI (npm ``@google/gemini-cli``), run as ``gemini -p``.

It speaks Gemini ``streamGenerateContent`` (``?alt=sse``) through the ``@google/genai``
SDK: ``GOOGLE_GEMINI_BASE_URL`` is the proxy's root (the SDK adds ``/v1beta/models/...``)
and the key is ``GEMINI_API_KEY``.  The cell's model goes in ``-m`` unchanged
(``scripted/oracle`` arrives as ``models/scripted/oracle``).

Gotchas:

* ``~/.gemini/settings.json`` selects the API-key auth (no Google login prompt), and
  turns off auto-update and its nag, usage statistics (Clearcut) and telemetry, and
  folder trust (an untrusted folder silently drops ``--approval-mode yolo``).
* Its helper calls (edit fixer, loop detection, compression, the router's classifier)
  name Gemini models of their own (``gemini-3-flash-preview``, ``flash-lite``); a model
  config override sends them to the cell's model, so every call goes to the endpoint's
  model and is counted.
* ``GEMINI_CLI_NO_RELAUNCH``: otherwise it starts a second node with a larger heap,
  a few seconds per cell for nothing.
* ``--prompt=TEXT`` in one word: a prompt starting with ``-`` is not read as options.
* ``--output-format stream-json`` prints assistant text as deltas; the relay joins
  them.  Its ``result`` event carries its own token count (``input_tokens`` and
  ``total_tokens``, thoughts included), used for the cross-check.
"""

from __future__ import annotations

import json
from pathlib import Path

from cab_core import Adapter, LaunchContext, LaunchSpec, hookimpl
from cab_core.agents import npm_install
from cab_core.errors import CabError

from . import _agents

NAME = "gemini"
PACKAGE = "@google/gemini-cli"
PINNED = "0.61.0"
BIN = Path("node_modules/.bin/gemini")
ENV = {"GEMINI_CLI_NO_RELAUNCH": "true", "NO_BROWSER": "true"}
#: Aliases that do not extend ``base`` (whose override covers all the others).
_ROOT_ALIASES = ("chat-compression-default", "chat-compression-3-pro", "chat-compression-3-flash",
                 "chat-compression-3.1-flash-lite", "chat-compression-2.5-pro", "chat-compression-2.5-flash",
                 "chat-compression-2.5-flash-lite", "agent-history-provider-summarizer")


def settings(ctx: LaunchContext) -> dict:
    """``~/.gemini/settings.json``: API-key auth, nothing phoning home, every model call on the cell's model."""
    model = {"modelConfig": {"model": ctx.model}}
    return {
        "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
        "modelConfigs": {"customOverrides": [{"match": {"model": alias}, **model} for alias in ("base", *_ROOT_ALIASES)]},
    }


def endpoint_root(url: str) -> str:
    """The proxy's root: the SDK adds ``/v1beta`` itself."""
    root = url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def argv(ctx: LaunchContext) -> list:
    return [f"--prompt={ctx.task.prompt}", "-m", ctx.model, "--approval-mode", "yolo", "--output-format", "stream-json"]


class Render:
    """Transcript lines for ``stream-json`` events; assistant deltas are joined into one line."""

    def __init__(self) -> None:
        self.text = ""

    def __call__(self, event: dict, usage: _agents.Usage):
        kind = event.get("type")
        if kind == "message" and event.get("role") == "assistant":
            self.text += str(event.get("content") or "")
            return
        if self.text.strip():
            yield self.text.strip()
        self.text = ""
        if kind == "tool_use":
            yield _agents.tool_summary(str(event.get("tool_name") or "?"), event.get("parameters"))
        elif kind == "tool_result":
            error = event.get("error") or {}
            if event.get("status") == "error":
                yield f"{_agents.ERR_MARK}{_agents.clip(str(error.get('message') or 'failed'))}"
            else:
                yield f"{_agents.OK_MARK}{_agents.clip(str(event.get('output') or 'done'))}"
        elif kind == "error":
            yield f"{_agents.ERR_MARK}{event.get('severity', 'error')}: {_agents.clip(str(event.get('message')))}"
        elif kind == "result":
            stats = event.get("stats") or {}
            prompt = int(stats.get("input_tokens") or 0)
            usage.add(prompt, max(int(stats.get("total_tokens") or 0) - prompt, int(stats.get("output_tokens") or 0)))
            if event.get("status") == "error":
                yield f"{_agents.ERR_MARK}error: {_agents.clip(str((event.get('error') or {}).get('message')))}"


# ---------------------------------------------------------------- before the shared base: the skeleton


def run_version() -> str:
    return _agents.version_from_env(NAME, PINNED)


def install(version=None, prefix=None, force=False) -> Path:
    version = version or run_version()

    def steps(prefix: Path) -> dict:
        npm_install(prefix, f"{PACKAGE}@{version}")
        _agents.check_version(NAME, version, [str(prefix / BIN), "--version"], env={"HOME": str(prefix / ".home"), **ENV})
        return {"package": f"{PACKAGE}@{version}"}

    return _agents.install_agent(NAME, version, prefix, force, steps)


def build_launch(ctx: LaunchContext) -> LaunchSpec:
    binary = _agents.require(NAME, run_version(), BIN, ctx)
    if not ctx.base_url:
        raise CabError("the gemini adapter needs a model endpoint (the recording proxy's base URL)")
    env = {**ENV, "GOOGLE_GEMINI_BASE_URL": endpoint_root(ctx.base_url), "GEMINI_API_KEY": ctx.api_key}
    files = {"~/.gemini/settings.json": json.dumps(settings(ctx), indent=2) + "\n"}
    return LaunchSpec(argv=_agents.relay_argv(__name__, [str(binary), *argv(ctx)]), env=env, files=files)


@hookimpl
def cab_adapters():
    return [Adapter(name=NAME, build_launch=build_launch, version=run_version(), image=f"cab/{NAME}:{run_version()}",
                    description=f"Gemini CLI ({PACKAGE}) as 'gemini -p', Gemini protocol",
                    final_output=lambda out: _agents.transcript_final(out) or _agents.strip_ansi(out)[-2000:].strip(),
                    agent_tokens=_agents.reported_usage, install=install,
                    is_installed=lambda: _agents.installed(NAME, run_version(), BIN),
                    mounts=_agents.install_mounts(NAME, run_version))]


if __name__ == "__main__":
    _agents.relay_entry(NAME, Render())
