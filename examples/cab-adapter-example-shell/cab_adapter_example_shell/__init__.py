"""An example third-party adapter: ``example-shell`` runs a shell script as the agent.

What it shows: the one hook an adapter needs (``cab_adapters``), the
:class:`~cab_core.LaunchSpec` it builds from a :class:`~cab_core.LaunchContext`, and
how an adapter reads its ``-o KEY=VALUE`` options.  It is a real agent of the
simplest kind: the script runs in the cell's work directory, inside the sandbox, with
the task's prompt in ``$CAB_PROMPT`` and the recording proxy's address in
``$OPENAI_BASE_URL`` (a script may call the model through it with ``curl``).

Options:

- ``script``: the shell script to run (default: write the prompt to ``PROMPT.txt``
  and print it, which changes one file and solves nothing).

Usage::

    pip install -e examples/cab-adapter-example-shell
    cab run --adapter example-shell --model none --task polyglot/python-slugify \\
        -o script='sed -i s/TODO/done/ slugify.py'
"""

from __future__ import annotations

from cab_core import Adapter, LaunchSpec, hookimpl

NAME = "example-shell"
VERSION = "0.0.1"
DEFAULT_SCRIPT = 'printf "%s\\n" "$CAB_PROMPT" > PROMPT.txt && echo "example-shell wrote PROMPT.txt"'


def build_launch(ctx):
    """The launch spec for one cell: ``/bin/sh -c SCRIPT`` in the work directory."""
    script = ctx.options.get("script") or DEFAULT_SCRIPT
    env = {"CAB_PROMPT": ctx.task.prompt, "CAB_MODEL": ctx.model, "OPENAI_API_KEY": ctx.api_key}
    if ctx.base_url:
        env["OPENAI_BASE_URL"] = ctx.base_url
    # The key is a dummy (the proxy holds the real one), but naming it keeps it out of the record anyway.
    return LaunchSpec(argv=["/bin/sh", "-c", script], env=env, secret_env=["OPENAI_API_KEY"])


def final_output(stdout: str) -> str:
    """The agent's answer: the last non-empty line it printed."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@hookimpl
def cab_adapters():
    return [Adapter(name=NAME, build_launch=build_launch, final_output=final_output, version=VERSION,
                    description="runs a shell script as the agent (-o script=...)")]
