"""The ``mini`` adapter: a minimal tool-calling agent in the standard library.

It sends the task's prompt to any OpenAI-compatible endpoint with two tools
(``read {path}`` and ``write {path, content}``), runs the calls it gets back in the
work directory, and loops until the model answers in plain text.  It exists so the
whole pipeline (proxy, model calls, tokens) can be exercised with nothing installed;
it is not meant to be a good agent.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cab_core import Adapter, AdapterOption, LaunchContext, LaunchSpec, hookimpl

AGENT = Path(__file__).with_name("_mini_agent.py")


def build_launch(ctx: LaunchContext) -> LaunchSpec:
    env = {"OPENAI_BASE_URL": ctx.base_url or "", "OPENAI_API_KEY": ctx.api_key, "CAB_MODEL": ctx.model}
    argv = [sys.executable, "-I", str(AGENT), "--model", ctx.model, "--max-turns", ctx.options.get("max_turns", "8"),
            ctx.task.prompt]
    return LaunchSpec(argv=argv, env=env)


def final_output(output: str) -> str:
    marker = "FINAL:"
    idx = output.rfind(marker)
    return output[idx + len(marker):].strip() if idx >= 0 else output[-2000:]


@hookimpl
def cab_adapters():
    return [Adapter(name="mini", build_launch=build_launch, final_output=final_output, version="1",
                    options=[AdapterOption(name="max_turns", type="int", default=8, help="model turns before it stops")],
                    description="a minimal stdlib tool-calling agent (read/write tools) for offline smoke tests")]
