"""Built-in agent plugins (the plugin stack): layers that amend any adapter's launch.

- ``guidance``: writes an instructions file (``AGENTS.md`` by default) into the work
  directory and records it as an expected change.  Options: ``guidance.file``,
  ``guidance.text``.
- ``env``: adds environment variables: every option ``env.NAME=value``.
- ``deadline``: tells the agent its time limit in the prompt (the launch env always
  carries it, as ``CAB_TIME_LIMIT_S`` and ``CAB_DEADLINE``, epoch seconds).  The note
  is appended wherever the adapter put the task's prompt (an argument or an
  environment value).  Option: ``deadline.text`` (``{minutes}``/``{seconds}`` filled in).
"""

from __future__ import annotations

import attrs

from cab_core import AgentPlugin, LaunchContext, LaunchSpec, hookimpl

DEFAULT_GUIDANCE = (
    "# Instructions\n\n"
    "Make the smallest change that solves the task. Do not edit tests or test configuration.\n"
    "Run the tests before you finish.\n"
)


def apply_guidance(spec: LaunchSpec, ctx: LaunchContext, options: dict) -> LaunchSpec:
    name = options.get("file", "AGENTS.md")
    return attrs.evolve(
        spec,
        files={**spec.files, name: options.get("text", DEFAULT_GUIDANCE)},
        expected_changes=(*spec.expected_changes, name),
    )


DEADLINE_TEXT = ("\n\nTime limit: you have {minutes} minutes ({seconds} seconds) for this task; the run is stopped "
                 "then. Leave time to finish and to run the tests.")


def apply_deadline(spec: LaunchSpec, ctx: LaunchContext, options: dict) -> LaunchSpec:
    limit = getattr(ctx, "time_limit_s", None)
    if not limit:
        return spec
    note = options.get("text", DEADLINE_TEXT).format(minutes=f"{limit / 60:g}", seconds=f"{limit:g}")
    prompt = ctx.task.prompt

    def told(value: str) -> str:
        return value.replace(prompt, prompt + note) if prompt in value else value

    return attrs.evolve(spec, argv=tuple(told(a) for a in spec.argv), env={k: told(v) for k, v in spec.env.items()})


def apply_env(spec: LaunchSpec, ctx: LaunchContext, options: dict) -> LaunchSpec:
    return attrs.evolve(spec, env={**spec.env, **options})


@hookimpl
def cab_agent_plugins():
    return [
        AgentPlugin(name="guidance", apply=apply_guidance, description="write an instructions file (AGENTS.md) for the agent"),
        AgentPlugin(name="env", apply=apply_env, description="add environment variables: -o env.NAME=value"),
        AgentPlugin(name="deadline", apply=apply_deadline, description="tell the agent its time limit in the prompt"),
    ]
