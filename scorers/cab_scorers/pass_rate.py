"""pass_rate: did the task's tests pass, by name, with a verdict the code under test could not forge?

The verdict comes from the core's one judge (:mod:`cab_core.verdict`): the verify run's
structured report (not its stdout), the task's expected test identities (every one
must be reported passed), the run's canaries and the agreement of exit status and
report.  Changed code the harness found reaching into the test machinery (a
``forgery attempt``, see :mod:`cab_core.workspace.forgery`) voids a pass: whatever the
run reported, it could have forged.  ``pass`` is 1 only for a clean pass; ``partial_score`` is the share of
expected tests passed; ``forged`` says how a verdict was forged (integrity reads it
too).  Breakdown keys: pass, reason, forged, channel, exit_code, timed_out,
expected_tests, passed_tests, failed_tests, missing_tests, skipped_tests, canary,
partial_score, report_complete, summary_counts, summary_agrees, stdout_tail,
stderr_tail.  No verify run (nothing to verify, e.g. a resource limit broken) scores 0.
"""

from __future__ import annotations

from cab_core import AxisScore, ScoreContext, Scorer, hookimpl
from cab_core.verdict import judge

from cab_core.scoring import never_raise, tail

AXIS = "pass_rate"


def verdict_of(ctx: ScoreContext):
    """The cell's verdict: the runner's, else one judged from the verify run's exit status and summary."""
    if ctx.verdict is not None:
        return ctx.verdict
    verify = ctx.verify
    if verify is None:
        return None
    return judge(exit_code=verify.exit_code, timed_out=verify.timed_out, output=verify.output, report=None,
                 expected=None)


@never_raise(AXIS)
def score(ctx: ScoreContext) -> AxisScore:
    """Score the verify run; value is ``pass`` as 0.0 or 1.0."""
    verdict = verdict_of(ctx)
    verify = ctx.verify
    if verdict is None:
        breakdown = {"pass": 0, "reason": "no verify run", "forged": None, "exit_code": None, "timed_out": False,
                     "expected_tests": [], "passed_tests": [], "missing_tests": [], "skipped_tests": [],
                     "canary": {}, "partial_score": None}
    else:
        breakdown = verdict.breakdown()
    forgeries = [f for f in (getattr(ctx, "forgery_findings", ()) or ()) if f.startswith("forgery attempt")]
    if forgeries and breakdown.get("pass"):  # changed code reached into the test machinery: the verdict is void
        breakdown.update({"pass": 0, "reason": f"verdict not trusted: {forgeries[0]}",
                          "forged": breakdown.get("forged") or forgeries[0]})
    # The reference page's keys first, in its order; then the verdict's own.
    first = {"pass": breakdown.pop("pass"), "exit_code": breakdown.pop("exit_code", None),
             "timed_out": breakdown.pop("timed_out", False),
             "stdout_tail": tail(verify.output) if verify is not None else "", "stderr_tail": "",
             "partial_score": breakdown.pop("partial_score", None)}
    breakdown = {**first, **breakdown}
    return AxisScore(axis=AXIS, value=float(breakdown["pass"]), breakdown=breakdown)


@hookimpl
def cab_scorers():
    """The pass_rate axis."""
    return [Scorer(name=AXIS, score=score, order=10, label="pass", direction="higher", format="ratio",
                   aggregation="rate", note=note, card="verdict",
                   description="1 if every expected test passed by name, with an unforged verdict, else 0")]


def note(score: AxisScore) -> str:
    """``partial 0.500`` and, for a fail, why."""
    b = score.breakdown
    partial = b.get("partial_score")
    text = "partial " + ("–" if partial is None else f"{partial:.3f}")
    if b.get("reason") and not b.get("pass"):
        text += f"  ({b['reason']})"
    return text
