"""The ``command`` adapter: a shell command plays the agent, to test the harness itself.

Models: ``oracle`` writes the task's reference solution, ``noop`` changes nothing, and
any other model runs ``-o command='...'`` with ``sh -c`` in the work directory.  The
command sees ``CAB_PROMPT``, ``CAB_MODEL``, ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``
(a dummy: the recording proxy holds the real key).
"""

from __future__ import annotations

from cab_core import Adapter, AdapterOption, LaunchContext, LaunchSpec, hookimpl
from cab_core.errors import CabError
from cab_core.tasks import solution_files

ORACLE_DIR = ".cab-oracle"


def build_launch(ctx: LaunchContext) -> LaunchSpec:
    env = {"CAB_PROMPT": ctx.task.prompt, "CAB_MODEL": ctx.model, "OPENAI_API_KEY": "cab-dummy-key"}
    if ctx.base_url:
        env["OPENAI_BASE_URL"] = ctx.base_url
    command = ctx.options.get("command")
    if command:
        return LaunchSpec(argv=["/bin/sh", "-c", command], env=env)
    if ctx.model == "oracle":
        files = {f"~/{ORACLE_DIR}/{rel}": text for rel, text in solution_files(ctx.task).items()}
        script = f'cp -R "$HOME/{ORACLE_DIR}/." . && rm -rf "$HOME/{ORACLE_DIR}" && echo "oracle: applied the reference solution"'
        if not files:
            script = 'echo "oracle: this task has no reference solution; nothing to do"'
        return LaunchSpec(argv=["/bin/sh", "-c", script], env=env, files=files)
    if ctx.model == "noop":
        return LaunchSpec(argv=["/bin/sh", "-c", "echo 'noop: changing nothing'"], env=env)
    raise CabError(f"the command adapter runs model 'oracle' or 'noop', or any model with -o command='...' (got {ctx.model!r})")


@hookimpl
def cab_adapters():
    return [
        Adapter(
            name="command",
            build_launch=build_launch,
            version="1",
            description="a shell command as the agent (oracle, noop, or -o command=...): tests the harness",
            options=[AdapterOption(name="command", help="the shell command to run as the agent (model 'custom')")],
            calls_model=False,  # oracle and noop never do; a -o command that does waits once for the proxy
        )
    ]
