"""Built-in agent plugins (the plugin stack): layers that amend any adapter's launch.

- ``guidance``: writes an instructions file (``AGENTS.md`` by default) into the work
  directory and records it as an expected change.  Options: ``guidance.file``,
  ``guidance.text``.
- ``env``: adds environment variables: every option ``env.NAME=value``.
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


def apply_env(spec: LaunchSpec, ctx: LaunchContext, options: dict) -> LaunchSpec:
    return attrs.evolve(spec, env={**spec.env, **options})


@hookimpl
def cab_agent_plugins():
    return [
        AgentPlugin(name="guidance", apply=apply_guidance, description="write an instructions file (AGENTS.md) for the agent"),
        AgentPlugin(name="env", apply=apply_env, description="add environment variables: -o env.NAME=value"),
    ]
