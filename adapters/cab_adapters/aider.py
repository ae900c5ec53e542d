"""The ``aider`` adapter: Paul Gauthier's aider (PyPI ``aider-chat``), in a virtual environment of its own.

aider talks to the recording proxy as an OpenAI-compatible endpoint: the model is
``openai/<model>``, which litellm sends upstream as exactly ``<model>``.  The task's
``expected_changes`` files are added to the chat, so the model sees them (aider has
no tools: the scripted oracle answers it with SEARCH/REPLACE or whole-file edits).

Offline on purpose: aider downloads litellm's model price list at start unless a copy
younger than a day is in ``~/.aider/caches``, so each cell gets a fresh copy of the
one litellm bundles (``LITELLM_LOCAL_MODEL_COST_MAP`` keeps litellm itself from
fetching it); no update check, no analytics, no URL scraping.  Its history files go
to the private HOME, not the work directory, so they never count as changes.

aider prints ``Tokens: 1.2k sent, 300 received.``, rounded; the exact numbers are in
its local analytics log (``--analytics-log``; nothing is sent anywhere), which the
relay (``--usage-log``, :mod:`cab_adapters._agents`) sums into one last line after aider
exits, for the cross-check against the proxy.  aider exits 0 even when every model
call failed; the proxy's record makes such a cell an infrastructure error.

Options: ``-o edit_format=diff|whole|...``, ``-o context_window=N``, ``-o max_tokens=N``,
``-o idle_seconds=S`` (interactive: quiet time after the answer, default 2).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from cab_core import AdapterOption, LaunchContext
from cab_core.globs import match_any
from cab_core.tasks import list_files

from . import _agents, _base, _tui

STATE = ".cab-aider"
PRICES = ".aider/caches/model_prices_and_context_window.json"
#: litellm's bundled price list inside aider's virtual environment (a glob: the Python version varies).
BUNDLED_PRICES = "lib/python*/site-packages/litellm/model_prices_and_context_window_backup.json"
#: No streaming, questions, update checks, analytics, commits, colours, URL scraping or notifications.
QUIET = ("--no-stream --yes-always --no-check-update --no-analytics --no-auto-commits --no-dirty-commits --no-gitignore "
         "--no-pretty --no-fancy-input --no-show-model-warnings --no-show-release-notes --no-detect-urls --no-notifications").split()


def chat_files(ctx: LaunchContext) -> list[str]:
    """The work directory's files matching the task's expected changes: the ones aider edits."""
    return [p for p in list_files(ctx.workdir) if match_any(p, ctx.task.expected_changes)]


def config(ctx: LaunchContext) -> dict:
    """The model's metadata for litellm (context window, output limit, no cost)."""
    limits = {"max_tokens": int(ctx.options.get("max_tokens", 16000)),
              "max_input_tokens": int(ctx.options.get("context_window", 128000)),
              "max_output_tokens": int(ctx.options.get("max_tokens", 16000))}
    metadata = {f"openai/{ctx.model}": {**limits, "input_cost_per_token": 0, "output_cost_per_token": 0,
                                        "litellm_provider": "openai", "mode": "chat"}}
    return {f"~/{STATE}/model-metadata.json": json.dumps(metadata, indent=2) + "\n"}


def argv(ctx: LaunchContext) -> list:
    """``aider --message PROMPT FILES`` (interactive: without ``--message``) against the endpoint."""
    home = ctx.home
    args = [
        "--model", f"openai/{ctx.model}", "--openai-api-base", AGENT.endpoint(ctx),
        "--model-metadata-file", str(home / STATE / "model-metadata.json"), *QUIET, "--map-tokens", "0",
        "--input-history-file", str(home / STATE / "input.history"),
        "--chat-history-file", str(home / STATE / "chat.history.md"),
        "--analytics-log", str(home / STATE / "analytics.jsonl"),
    ]
    if ctx.options.get("edit_format"):
        args += ["--edit-format", ctx.options["edit_format"]]
    if ctx.mode != "interactive":
        args += ["--message", ctx.task.prompt]
    return args + chat_files(ctx)


def copies(ctx: LaunchContext, prefix: Path) -> list:
    """litellm's bundled price list into aider's cache, so it does not download one (copied inside the sandbox)."""
    return [(prefix / BUNDLED_PRICES, ctx.home / PRICES)]


def usage_from_analytics(text: str) -> _agents.Usage:
    """aider's own exact token counts: its ``message_send`` events, summed."""
    return _agents.usage_from_json_lines(text, lambda e: e.get("event") == "message_send" and (
        (e.get("properties") or {}).get("prompt_tokens"), (e.get("properties") or {}).get("completion_tokens")))


def final_output(output: str) -> str:
    """aider's last reply: what it printed after the last ``Tokens:`` report's reply, without the edits' echo."""
    text = _agents.strip_ansi(output)
    lines = [line for line in text.splitlines() if not line.startswith("[cab] ")]
    # The reply sits between the model line ("Added ... to the chat.") and the usage report.
    end = max((i for i, line in enumerate(lines) if line.startswith("Tokens: ")), default=len(lines))
    start = max((i for i, line in enumerate(lines[:end]) if line.startswith(("Added ", "Repo-map:", "Tokens: "))),
                default=-1)
    return "\n".join(lines[start + 1:end]).strip() or text[-2000:]


AGENT = _base.InstalledAgent(
    name="aider", package="aider-chat", pinned="0.86.2", installer="pypi", binary="bin/aider", protocol="chat",
    module=__name__, description="aider (aider-chat) with --message and the task's files, or its prompt interactively",
    env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "AIDER_CHECK_UPDATE": "false"},
    cell_env=lambda ctx: AGENT.key_env(ctx), config=config, argv=argv, copies=copies,
    usage_log=lambda ctx: ctx.home / STATE / "analytics.jsonl", read_usage_log=usage_from_analytics,
    final=final_output, needs=[BUNDLED_PRICES],
    interactive=functools.partial(_tui.drive_prompt, prompt="\n> ", quit="/exit", answer=final_output, idle=2),
    options=[_base.CONTEXT_WINDOW, _base.MAX_TOKENS, AdapterOption(name="edit_format", help="aider's --edit-format (whole, diff, ...)"),
             _base.idle_seconds(2), _base.INTERACTIVE_TIMEOUT],
)
run_version, agent_tokens = AGENT.run_version, AGENT.tokens


cab_adapters = AGENT.hook()


if __name__ == "__main__":
    AGENT.main()
