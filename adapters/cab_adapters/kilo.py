"""The ``kilo`` adapter: Kilo Code's CLI (npm ``@kilocode/cli``), run as ``kilo run --auto``.

Kilo's CLI is a fork of opencode: the same config shape (one custom provider on the
bundled ``@ai-sdk/openai-compatible`` SDK, at the proxy's ``/v1``), the same
``run --format json`` events (rendered by :func:`cab_adapters.opencode.render`), its
own ``KILO_*`` variables.  Config, database, logs and snapshots live in the cell's HOME.

Gotchas (7.7.7):

* Pinned to 7.7.7: ``@kilocode/cli`` 7.8.1 is on npm but its native package
  ``@kilocode/cli-linux-x64@7.8.1`` is not, so its postinstall fails.
* ``enabled_providers`` is only the cell's provider: otherwise every run asks
  ``api.kilo.ai`` for the Kilo gateway's models (a DNS lookup and a connect).
* ``snapshot: false``: on a busy machine the snapshot repository's first commit is
  "slow", and Kilo then *asks* (a blocking question nobody answers in ``run``) and hangs.
* ``KILO_NO_DAEMON``: without it the CLI first looks for a running Kilo daemon.
* ``KILO_TELEMETRY_LEVEL`` other than ``all`` turns PostHog off; ``--auto`` approves every
  permission; ``--title`` saves a title request; ``</dev/null``-like stdin is required
  (with a pipe on stdin ``kilo run`` waits to read it).
* A slow start: a minute or more of CPU (Bun loading its bundle) before the first model
  call on a busy 2-core machine, where opencode and Claude Code take seconds.

Options: ``-o provider=NAME``, ``-o context_window=N``, ``-o max_tokens=N``.
"""

from __future__ import annotations

import json

from cab_core import LaunchContext

from . import _base
from .opencode import render  # the same event stream as opencode's

CONFIG_FILE = ".cab/kilo.json"
ENV = {
    **{f"KILO_DISABLE_{what}": "1" for what in ("AUTOUPDATE", "MODELS_FETCH", "LSP_DOWNLOAD", "SHARE", "CLAUDE_CODE",
                                                "DEFAULT_PLUGINS", "SESSION_INGEST", "CODEBASE_INDEXING", "PRESENCE")},
    "KILO_TELEMETRY_LEVEL": "off",
    "KILO_NO_DAEMON": "1",
    "KILO_PURE": "1",
    "KILO_AUTH_CONTENT": "{}",
}
XDG = {"XDG_CONFIG_HOME": ".config", "XDG_DATA_HOME": ".local/share", "XDG_CACHE_HOME": ".cache",
       "XDG_STATE_HOME": ".local/state"}


def config(ctx: LaunchContext) -> dict:
    """Kilo's config for a cell: one provider (the only one enabled), one model, no snapshots."""
    provider = ctx.options.get("provider", "cab")
    model = {"name": ctx.model, "limit": {"context": int(ctx.options.get("context_window", 128000)),
                                          "output": int(ctx.options.get("max_tokens", 16000))}}
    settings = {"$schema": "https://app.kilo.ai/config.json", "model": f"{provider}/{ctx.model}",
                "small_model": f"{provider}/{ctx.model}", "enabled_providers": [provider],
                "provider": {provider: {"npm": "@ai-sdk/openai-compatible", "name": provider,
                                        "options": {"baseURL": AGENT.endpoint(ctx), "apiKey": ctx.api_key},
                                        "models": {ctx.model: model}}},
                "snapshot": False, "autoupdate": False, "share": "disabled",
                "experimental": {"openTelemetry": False}}
    return {f"~/{CONFIG_FILE}": json.dumps(settings, indent=2) + "\n"}


def argv(ctx: LaunchContext) -> list:
    """``kilo run --format json --auto --title NAME -m PROVIDER/MODEL PROMPT`` (under the relay)."""
    return ["run", "--format", "json", "--auto", "--title", ctx.task.name,
            "-m", f"{ctx.options.get('provider', 'cab')}/{ctx.model}", ctx.task.prompt]


AGENT = _base.InstalledAgent(
    name="kilo", package="@kilocode/cli", pinned="7.7.7", installer="npm", binary="node_modules/.bin/kilo",
    protocol="chat", module=__name__, description="Kilo Code CLI (@kilocode/cli) as 'kilo run --auto', fully offline",
    env=ENV, config=config, argv=argv, render=render,
    cell_env=lambda ctx: {**{k: str(ctx.home / v) for k, v in XDG.items()}, "KILO_CONFIG": str(ctx.home / CONFIG_FILE)},
    needs=["node_modules/@kilocode/cli-linux-*/bin/kilo"],
    options=[_base.CONTEXT_WINDOW, _base.MAX_TOKENS, _base.PROVIDER],
)
run_version, final_output, agent_tokens = AGENT.run_version, AGENT.final, AGENT.tokens


cab_adapters = AGENT.hook()


if __name__ == "__main__":
    AGENT.main()
