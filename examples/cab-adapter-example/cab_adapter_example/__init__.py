"""An example third-party plugin: the ``echo`` adapter and the ``diff_size`` scorer."""

from cab_core import Adapter, AxisScore, LaunchSpec, Scorer, hookimpl


def build_launch(ctx):
    return LaunchSpec(argv=["/bin/sh", "-c", 'echo "example agent was asked: $CAB_PROMPT"'],
                      env={"CAB_PROMPT": ctx.task.prompt})


def diff_size(ctx):
    lines = [l for l in ctx.changes.patch.splitlines() if l[:1] in "+-" and l[:3] not in ("+++", "---")]
    return AxisScore(axis="diff_size", value=float(len(lines)), breakdown={"changed_lines": len(lines)})


@hookimpl
def cab_adapters():
    return [Adapter(name="echo", build_launch=build_launch, version="0.0.1", description="prints the prompt")]


@hookimpl
def cab_scorers():
    return [Scorer(name="diff_size", score=diff_size, description="lines changed in the diff")]
