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
* Headless only for now.  Its TUI works against the scripted model (ready: "Type your
  message"; busy: "esc to cancel"; the answer is the last "✦" block; ``/quit``), but it
  sends private SGR sequences (``CSI > 4;2 m``) that make pyte's ``select_graphic_rendition``
  raise inside :func:`cab_adapters._tui.drive_screen`, and its answer sits above one
  rule, not between two.
"""

from __future__ import annotations


from cab_core import LaunchContext

from . import _agents, _base

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


config = _base.json_config("~/.gemini/settings.json", settings)


AGENT = _base.InstalledAgent(
    name="gemini", package="@google/gemini-cli", pinned="0.61.0", installer="npm",
    binary="node_modules/.bin/gemini", protocol="gemini", module=__name__,
    description="Gemini CLI (@google/gemini-cli), headless 'gemini --prompt' with stream-json events",
    env={"GEMINI_CLI_NO_RELAUNCH": "true", "NO_BROWSER": "true"},
    cell_env=lambda ctx: {"GOOGLE_GEMINI_BASE_URL": AGENT.endpoint(ctx), "GEMINI_API_KEY": ctx.api_key},
    config=config, argv=argv, render=Render(),
)
run_version, final_output, agent_tokens = AGENT.run_version, AGENT.final, AGENT.tokens


cab_adapters = AGENT.hook()


if __name__ == "__main__":
    AGENT.main()
