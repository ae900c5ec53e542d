"""latency: how long the agent took, apart from how long the harness took.

The value is ``agent_ms``: the agent's own launch span (``ctx.launch.duration_ms``,
from starting the agent process to its exit), the only time the agent is answerable
for.  ``harness_ms`` is the rest of the cell as the runner timed it (work-tree setup,
the diff, the verify run with its compilation): ``wall_clock_ms - agent_ms``.  The
composite's latency efficiency and sweep normalisation use ``agent_ms`` only, so a
slow compiler or a busy machine during verification cannot rank one agent above
another.

``container_active_ms`` is the agent process's active time (its plain duration when
the sandbox could not measure activity); ``model_call_ms`` is the summed latency of
the model calls.  With no launch span (the agent never started) the value is
``None``: an unknown time, which the composite credits as 0.
"""

from __future__ import annotations

from cab_core import AxisScore, ScoreContext, Scorer, hookimpl

from cab_core.scoring import never_raise, number

AXIS = "latency"


def agent_ms(ctx: ScoreContext):
    """The agent's launch span in ms, or ``None`` when there is none."""
    launch = ctx.launch
    span = number(launch.duration_ms) if launch is not None else None
    return span if span is not None and span > 0 else None


@never_raise(AXIS)
def score(ctx: ScoreContext) -> AxisScore:
    """Score the cell's timing; value is ``agent_ms``."""
    launch = ctx.launch
    active = None
    if launch is not None:
        active = launch.active_ms if launch.active_ms is not None else launch.duration_ms
    wall = number(ctx.wall_clock_ms, 0.0)
    agent = agent_ms(ctx)
    breakdown = {
        "wall_clock_ms": wall,
        "container_active_ms": number(active),
        "model_call_ms": sum(number(c.latency_ms, 0.0) for c in ctx.model_calls),
        "agent_ms": agent,
        "harness_ms": max(0.0, wall - agent) if agent is not None else None,
    }
    return AxisScore(axis=AXIS, value=agent, breakdown=breakdown)


@hookimpl
def cab_scorers():
    """The latency axis."""
    return [Scorer(name=AXIS, score=score, order=30, label="agent time", direction="lower", format="ms",
                   aggregation="median", reference_option="reference_wall_clock_ms", note=note,
                   description="the agent's own milliseconds (its launch span); the harness's time beside it")]


def note(score: AxisScore) -> str:
    """``harness 1.20s`` (the rest of the cell's time)."""
    harness = number(score.breakdown.get("harness_ms"))
    return "" if harness is None else f"harness {harness / 1000:.2f}s"
