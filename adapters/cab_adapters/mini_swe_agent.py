"""The ``mini-swe-agent`` adapter: SWE-agent's mini-swe-agent (PyPI ``mini-swe-agent``), in a virtual environment.

mini-swe-agent talks to the model through litellm as an OpenAI-compatible endpoint:
the model is ``openai/<model>`` (litellm sends exactly ``<model>``) and litellm takes
the proxy's URL from ``OPENAI_BASE_URL``.  It has one tool, ``bash``, and ends the run
when the model runs ``echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`` (the scripted
oracle answers it that way: see :mod:`cab_core.endpoint.scripted.shell`).  Headless it
is ``mini -y --exit-immediately -t TASK``: yolo mode (no confirmation) and no question
at the end; its own terminal output is the transcript.

Gotchas:

* It is started as ``python -I -m minisweagent.run.mini``: ``mini`` has no
  ``--version`` (the install check asks the package instead), and ``-I`` keeps the
  work directory off ``sys.path``, so a task's ``litellm.py`` cannot shadow a module.
* No ``-c`` config spec is passed: any ``-c`` drops the built-in ``mini.yaml``, and a
  bare name is looked up in the work directory first.  Everything goes through the
  environment instead (``MSWEA_*``, ``OPENAI_BASE_URL``, ``LITELLM_*``).
* Offline: ``MSWEA_CONFIGURED`` skips the first-run setup wizard (it prompts for a model
  and key); ``LITELLM_LOCAL_MODEL_COST_MAP`` stops litellm fetching its price list from
  GitHub at import (three retries, ~10 s); the model is registered with zero prices
  (``LITELLM_MODEL_REGISTRY_PATH``), so cost tracking neither fails nor stops the run
  (``-l 0``: no cost limit; cab's timeout bounds the cell).
* It prints no token count; its trajectory (``-o``) keeps every response's ``usage``
  (format errors included), which the relay sums for the cross-check.

Options: ``-o context_window=N``, ``-o max_tokens=N`` (what litellm is told about the model).
"""

from __future__ import annotations

import json
import re

from cab_core import LaunchContext

from . import _agents, _base

STATE = ".cab-mini-swe-agent"
TRAJECTORY = f"{STATE}/trajectory.json"
_ERASED = re.compile(r"[^\r\n]*(?:\r\n?|\n)\x1b\[2K")
_STEP = re.compile(r"^mini-swe-agent \(step \d+, \$[\d.]+\):$", re.MULTILINE)


def config(ctx: LaunchContext) -> dict:
    """litellm's model registry: the cell's model, an OpenAI-compatible chat model that costs nothing."""
    entry = {"max_tokens": int(ctx.options.get("max_tokens", 16000)),
             "max_input_tokens": int(ctx.options.get("context_window", 128000)),
             "max_output_tokens": int(ctx.options.get("max_tokens", 16000)),
             "input_cost_per_token": 0, "output_cost_per_token": 0, "litellm_provider": "openai", "mode": "chat",
             "supports_function_calling": True}
    return {f"~/{STATE}/registry.json": json.dumps({f"openai/{ctx.model}": entry}, indent=2) + "\n"}


def cell_env(ctx: LaunchContext) -> dict:
    return {"OPENAI_BASE_URL": AGENT.endpoint(ctx), **AGENT.key_env(ctx),
            "MSWEA_GLOBAL_CONFIG_DIR": str(ctx.home / ".config/mini-swe-agent"),
            "LITELLM_MODEL_REGISTRY_PATH": str(ctx.home / STATE / "registry.json")}


def argv(ctx: LaunchContext) -> list:
    """``python -I -m minisweagent.run.mini -y --exit-immediately -m openai/MODEL -t TASK``."""
    return ["-I", "-m", "minisweagent.run.mini", "-y", "--exit-immediately", "-l", "0", "-m", f"openai/{ctx.model}",
            "-o", str(ctx.home / TRAJECTORY), "-t", ctx.task.prompt]


def read_trajectory(text: str) -> _agents.Usage:
    """The token counts of every model response in a trajectory file."""
    usage = _agents.Usage()
    try:
        messages = json.loads(text).get("messages") or []
    except (ValueError, AttributeError):
        return usage
    for message in messages:
        response = ((message or {}).get("extra") or {}).get("response") if isinstance(message, dict) else None
        counts = response.get("usage") if isinstance(response, dict) else None
        if isinstance(counts, dict):
            usage.add(counts.get("prompt_tokens") or 0, counts.get("completion_tokens") or 0)
    return usage


def final(output: str) -> str:
    """The text of the agent's last step, without its command."""
    # Its "Waiting for the LM" spinner is erased in place (CR, or LF once read as text, then erase-line).
    text = _agents.strip_ansi(_ERASED.sub("", output or ""))
    steps = list(_STEP.finditer(text))
    if not steps:
        return text[-2000:].strip()
    last = text[steps[-1].end():]
    return re.split(r"^```|^Tool:$", last, maxsplit=1, flags=re.MULTILINE)[0].strip()


AGENT = _base.InstalledAgent(
    name="mini-swe-agent", package="mini-swe-agent", pinned="2.4.6", installer="pypi", binary="bin/python",
    protocol="chat", module=__name__,
    description="mini-swe-agent (SWE-agent, PyPI mini-swe-agent): bash only, headless yolo mode via litellm",
    env={"MSWEA_CONFIGURED": "true", "MSWEA_SILENT_STARTUP": "1", "MSWEA_COST_TRACKING": "ignore_errors",
         "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    cell_env=cell_env, config=config, argv=argv, final=final,
    usage_log=lambda ctx: ctx.home / TRAJECTORY, read_usage_log=read_trajectory,
    version_argv=("-I", "-c", "import minisweagent as m; print('mini-swe-agent', m.__version__)"),
    needs=["bin/mini"], options=[_base.CONTEXT_WINDOW, _base.MAX_TOKENS],
)
run_version = AGENT.run_version
final_output, agent_tokens = AGENT.final, AGENT.tokens


cab_adapters = AGENT.hook()


if __name__ == "__main__":
    AGENT.main()
