"""blast_radius: the share of changed files the task did not ask to change.

Expected changes are the task's ``expected_changes`` globs plus any an agent plugin
declared (``ctx.options["extra_expected_changes"]``), matched with
:func:`cab_scorers._util.glob_match` (``**`` crosses directories, ``*`` does not).
``blast_radius = len(unexpected_changes) / total_changes``, 0.0 when nothing changed
(no file outside the task was touched).  When the harness has no diff at all
(``ctx.changes`` is ``None``) the value is ``None``: unknown, which the composite
credits as the worst case (1), never as a clean run.
"""

from __future__ import annotations

from cab_core import AxisScore, ScoreContext, Scorer, hookimpl

from cab_core.scoring import glob_match, never_raise, normalise_path

AXIS = "blast_radius"


def _paths(values) -> list[str]:
    return sorted({normalise_path(v) for v in values or ()})


def _globs(ctx: ScoreContext) -> list[str]:
    extra = ctx.options.get("extra_expected_changes") or ()
    if isinstance(extra, str):
        extra = (extra,)
    return [str(g) for g in (*ctx.task.expected_changes, *extra) if g]


@never_raise(AXIS)
def score(ctx: ScoreContext) -> AxisScore:
    """Score how far the agent's changes reached; value is ``blast_radius``."""
    changes = ctx.changes
    if changes is None:
        return AxisScore(axis=AXIS, value=None, breakdown={"blast_radius": None, "unknown": "no diff was recorded"})
    added = _paths(changes.added)
    removed = _paths(changes.removed)
    modified = _paths(changes.modified)
    changed = sorted({*added, *removed, *modified})
    globs = _globs(ctx)
    expected = [p for p in changed if any(glob_match(p, g) for g in globs)]
    unexpected = [p for p in changed if p not in expected]
    radius = len(unexpected) / len(changed) if changed else 0.0
    breakdown = {
        "blast_radius": radius,
        "added": added,
        "removed": removed,
        "modified": modified,
        "unexpected_changes": unexpected,
        "expected_changes": expected,
        "total_changes": len(changed),
        "extra_git_dir": bool(changes.extra_git_dir),
    }
    return AxisScore(axis=AXIS, value=radius, breakdown=breakdown)


@hookimpl
def cab_scorers():
    """The blast_radius axis."""
    return [Scorer(name=AXIS, score=score, order=40, label="blast radius", direction="lower", format="ratio",
                   aggregation="mean", note=note,
                   description="share of changed files outside the task's expected changes")]


def note(score: AxisScore) -> str:
    """The first unexpected changes."""
    unexpected = score.breakdown.get("unexpected_changes") or []
    return ("unexpected: " + ", ".join(unexpected[:5])) if unexpected else ""
