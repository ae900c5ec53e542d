"""The ``cline`` adapter: Cline's CLI (npm ``cline``, 3.x), run headless as ``cline --json PROMPT``.

Cline 3 is a Bun-compiled binary shipped in a platform package (``@cline/cli-linux-x64``,
an optional dependency npm installs; ``bin/cline`` is a Node resolver that finds it).
The cell's model is Cline's built-in ``openai-compatible`` provider, configured the way
``cline auth -p openai-compatible -b URL`` would: ``~/.cline/data/settings/providers.json``
in the cell's private HOME names the proxy's base URL, the model and the (dummy) key, so
the key is never on the command line.

Gotchas:

* Three things reach out by default, each turned off through Cline's own files: telemetry
  to an OpenTelemetry collector on cline.bot (every start, even ``--version``, looks its
  name up) and the auto-update check, off by ``telemetryOptOut`` and
  ``autoUpdateEnabled: false`` in ``global-settings.json`` (and ``CLINE_NO_AUTO_UPDATE``);
  PostHog feature flags (data.cline.bot), skipped while the flag cache
  ``cache/feature-flags.json`` is under an hour old, so each cell gets a fresh empty one.
  With these a run connects only to the proxy (the strace test checks this).
* Without ``--data-dir`` every run spawns a detached "hub daemon" (``cline
  --cline-hub-daemon``, listening on 127.0.0.1:25463) that outlives it; ``--data-dir``
  ("sandbox mode") keeps the session in-process.
* Its ``editor`` tool cannot overwrite an existing file without the exact old text, so
  the scripted oracle answers through its shell tool, ``run_commands`` (see
  :func:`cab_core.endpoint.scripted.planning.find_shell_tool`).
* ``--json`` prints one event per line: text and tool calls come as ``agent_event``
  ``content_start``/``content_end``; the last line, ``run_result``, carries the run's
  token total (``aggregateUsage``), which is the agent's own count for the cross-check.
  Its ``inputTokens`` already include cached ones (the AI SDK's convention).
* Tool auto-approval is the headless default; ``--auto-approve true`` is given anyway.
* Every model call prints AI SDK deprecation warnings with stack traces on stderr (no
  switch turns them off from outside); they stay in the recording, and
  :func:`final_output` leaves them out.
* No interactive mode: Cline's TUI (``cline -i``) is not driven.
"""

from __future__ import annotations

import json
import re
import time

from cab_core import LaunchContext

from . import _agents, _base

PROVIDER = "openai-compatible"
DATA = ".cline/data"
#: ``providers.json`` entries need a time stamp: without one Cline drops the entry's URL and key.
UPDATED_AT = "2026-01-01T00:00:00.000Z"
#: Cline's global settings in a cell: no telemetry, no auto-update.
GLOBAL_SETTINGS = {"telemetryOptOut": True, "autoUpdateEnabled": False}


def config(ctx: LaunchContext) -> dict:
    """Cline's files for a cell: one openai-compatible provider at the proxy; telemetry, updates and flags off."""
    provider = {"provider": PROVIDER, "apiKey": ctx.api_key, "model": ctx.model, "baseUrl": AGENT.endpoint(ctx)}
    providers = {"version": 1, "lastUsedProvider": PROVIDER, "modes": {},
                 "providers": {PROVIDER: {"settings": provider, "updatedAt": UPDATED_AT, "tokenSource": "manual"}}}
    flags = {"version": 2, "updatedAt": int(time.time() * 1000), "userId": None,
             "flagsPayload": {"featureFlags": {}, "featureFlagPayloads": {}}}
    return {f"~/{DATA}/settings/providers.json": json.dumps(providers, indent=2) + "\n",
            f"~/{DATA}/settings/global-settings.json": json.dumps(GLOBAL_SETTINGS, indent=2) + "\n",
            f"~/{DATA}/cache/feature-flags.json": json.dumps(flags) + "\n"}


def argv(ctx: LaunchContext) -> list:
    """``--json --auto-approve true --data-dir D -P openai-compatible -m MODEL -c WORKDIR PROMPT``."""
    return ["--json", "--auto-approve", "true", "--data-dir", str(ctx.home / DATA), "-P", PROVIDER, "-m", ctx.model,
            "-c", str(ctx.workdir), ctx.task.prompt]


def render(event: dict, usage: _agents.Usage):
    """Transcript lines for one ``cline --json`` event (and the run's token total)."""
    inner = (event.get("event") or {}) if event.get("type") == "agent_event" else {}
    kind, what = inner.get("type"), inner.get("contentType")
    if what == "text" and kind == "content_end" and (inner.get("text") or "").strip():
        yield inner["text"].rstrip()
    elif what == "tool" and kind == "content_start":
        args = inner.get("input")
        if isinstance(args, dict) and isinstance(args.get("commands"), list) and args["commands"]:
            args = {"command": str(args["commands"][0])}
        yield _agents.tool_summary(inner.get("toolName", "?"), args)
    elif what == "tool" and kind == "content_end":
        results = inner.get("output") if isinstance(inner.get("output"), list) else [inner.get("output")]
        failed = inner.get("error") or any(isinstance(r, dict) and r.get("success") is False for r in results)
        text = inner.get("error") or "; ".join(str(r.get("result") or r.get("error") or "") if isinstance(r, dict)
                                                else str(r or "") for r in results)
        yield f"{_agents.ERR_MARK if failed else _agents.OK_MARK}{_agents.clip(str(text)) or ('failed' if failed else 'done')}"
    elif event.get("type") == "run_result":
        total = event.get("aggregateUsage") or event.get("usage") or {}
        usage.add(total.get("inputTokens") or 0, total.get("outputTokens") or 0)
        if event.get("finishReason") not in (None, "completed"):
            yield f"{_agents.ERR_MARK}run ended: {event.get('finishReason')} {_agents.clip(str(event.get('error') or ''))}".rstrip()


#: The AI SDK's warnings Cline prints to stderr on every call (a stack trace each).
_SDK_WARNING = re.compile(r"^\w*Warning: AI SDK .*\n(?:[ \t]+at .*\n)*\n?", re.MULTILINE)


def final_output(output: str) -> str:
    """Cline's last words: the transcript after its last tool call, without the AI SDK's warnings."""
    return _base.default_final(_SDK_WARNING.sub("", _agents.strip_ansi(output)))


AGENT = _base.InstalledAgent(
    name="cline", package="cline", pinned="3.0.65", installer="npm", binary="node_modules/.bin/cline",
    protocol="chat", module=__name__, description="Cline CLI (cline) as 'cline --json', telemetry off",
    env={"CLINE_NO_AUTO_UPDATE": "1"}, cell_env=lambda ctx: {"CLINE_DIR": str(ctx.home / ".cline")},
    config=config, argv=argv, render=render, final=final_output,
)
run_version, agent_tokens = AGENT.run_version, AGENT.tokens


cab_adapters = AGENT.hook()


if __name__ == "__main__":
    AGENT.main()
