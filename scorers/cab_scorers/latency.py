"""latency: how long the cell took.

``wall_clock_ms`` is the whole cell as the runner timed it; ``container_active_ms``
is the agent process's active time (its plain duration when the sandbox could not
measure activity); ``model_call_ms`` is the summed latency of the model calls.
"""

from __future__ import annotations

from cab_core import AxisScore, ScoreContext, Scorer, hookimpl

from ._util import never_raise, number

AXIS = "latency"


@never_raise(AXIS)
def score(ctx: ScoreContext) -> AxisScore:
    """Score the cell's timing; value is ``wall_clock_ms``."""
    launch = ctx.launch
    active = None
    if launch is not None:
        active = launch.active_ms if launch.active_ms is not None else launch.duration_ms
    wall = number(ctx.wall_clock_ms, 0.0)
    breakdown = {
        "wall_clock_ms": wall,
        "container_active_ms": number(active),
        "model_call_ms": sum(number(c.latency_ms, 0.0) for c in ctx.model_calls),
    }
    return AxisScore(axis=AXIS, value=wall, breakdown=breakdown)


@hookimpl
def cab_scorers():
    """The latency axis."""
    return [Scorer(name=AXIS, score=score, order=30, description="wall-clock milliseconds of the cell")]
