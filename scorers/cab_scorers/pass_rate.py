"""pass_rate: did the task's test command pass?

``pass`` is 1 when the verify run exited 0, did not time out and ran at least one
test (a runner reporting zero tests is a fail; output no runner summary is found
in is judged by the exit code alone).  ``partial_score`` is passed/(passed+failed)
from :func:`cab_scorers.testcounts.parse_counts`, ``None`` when the counts cannot be
read or no test ran.  The verify command runs under a pty, so stdout and stderr
arrive interleaved: all of it goes into ``stdout_tail`` and ``stderr_tail`` is empty.
No verify run (the harness could not verify) scores 0.
"""

from __future__ import annotations

from cab_core import AxisScore, ScoreContext, Scorer, hookimpl

from ._util import never_raise, tail, verify_passed

AXIS = "pass_rate"


@never_raise(AXIS)
def score(ctx: ScoreContext) -> AxisScore:
    """Score the verify run in ``ctx.verify``; value is ``pass`` as 0.0 or 1.0."""
    verify = ctx.verify
    passed, counts = verify_passed(verify)
    partial = None
    if counts is not None and sum(counts) > 0:
        partial = counts[0] / sum(counts)
    breakdown = {
        "pass": passed,
        "exit_code": verify.exit_code if verify is not None else None,
        "timed_out": bool(verify.timed_out) if verify is not None else False,
        "stdout_tail": tail(verify.output) if verify is not None else "",
        "stderr_tail": "",
        "partial_score": partial,
    }
    return AxisScore(axis=AXIS, value=float(passed), breakdown=breakdown)


@hookimpl
def cab_scorers():
    """The pass_rate axis."""
    return [Scorer(name=AXIS, score=score, order=10, description="1 if the task's tests pass (at least one test ran), else 0")]
