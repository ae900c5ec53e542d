"""tokens: what the run cost, in tokens per correct task.

Sums prompt, completion and total tokens over the model calls the recording proxy
saw.  ``tokens_per_correct_task`` is ``total_tokens / pass``: the total when the
task passed; ``None`` (stored null, shown "–") when it did not, whether or not
tokens were spent: with nothing correct the ratio is undefined, never 0 (which would
read as the best possible cost).
The pass is the pass_rate axis's when it is already in ``ctx.scores``, otherwise it
is computed from ``ctx.verify`` with the same helper, so the order scorers run in
does not matter.

``estimated_calls`` counts the calls whose endpoint sent no believable usage (none,
a field that is not a count, zero or far below the answer's own size, or a stream
cut before its final usage): the recording proxy counted their tokens with a
tokenizer (``usage_source: "estimated"``), so those figures are cab's count, not the
provider's.  ``estimated_reasons`` maps each reason (``ModelCall.usage_note``) to how
many calls it explains.

``cost`` (the last key) is the cell's cost in dollars: see :mod:`._cost`
(``total_usd``, ``usd_per_correct_task``, ``priced_calls``, ``unknown_price_calls``,
``free``, ``shown``); ``None`` where a price is unknown, never 0.
"""

from __future__ import annotations

import re

from cab_core import AxisScore, ScoreContext, Scorer, hookimpl

from cab_core.scoring import never_raise, number, pass_value, token_totals, tokens_per_correct

from ._cost import cost_block

AXIS = "tokens"


@never_raise(AXIS)
def score(ctx: ScoreContext) -> AxisScore:
    """Score token use; value is ``tokens_per_correct_task`` (may be ``None``)."""
    prompt, completion, total = token_totals(ctx.model_calls)
    passed = pass_value(ctx)
    per_correct = tokens_per_correct(total, passed)
    breakdown = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "model_calls": len(ctx.model_calls),
        "tokens_per_correct_task": per_correct,
        "pass_used_for_division": passed,
        "estimated_calls": sum(1 for c in ctx.model_calls if getattr(c, "usage_source", "reported") == "estimated"),
        "estimated_reasons": _reasons(ctx.model_calls),
        "cost": cost_block(ctx.model_calls, passed),
    }
    return AxisScore(axis=AXIS, value=number(per_correct), breakdown=breakdown)


def _reasons(calls) -> dict:
    """Why calls were estimated: each distinct ``usage_note`` (numbers folded) -> how many calls."""
    out: dict[str, int] = {}
    for call in calls:
        if getattr(call, "usage_source", "reported") == "estimated":
            why = re.sub(r"\d+", "N", str(getattr(call, "usage_note", None) or "the upstream sent no usage"))
            out[why] = out.get(why, 0) + 1
    return out


@hookimpl
def cab_scorers():
    """The tokens axis."""
    return [Scorer(name=AXIS, score=score, order=20, label="tokens/correct", direction="lower", format="tokens",
                   aggregation="median", reference_option="reference_tokens", note=note,
                   description="tokens spent per correct task (None: nothing correct)")]


def note(score: AxisScore) -> str:
    """``1234 tokens in 3 calls · $0.0123 · $0.0123 per correct task`` (``cost unknown`` / ``free (scripted)``)."""
    text = f"{score.breakdown.get('total_tokens', 0)} tokens in {score.breakdown.get('model_calls', 0)} calls"
    if score.breakdown.get("estimated_calls"):
        text += f" ({score.breakdown['estimated_calls']} estimated: no believable usage)"
    cost = score.breakdown.get("cost") or {}
    if not cost or cost.get("free"):
        return text + (f" · {cost['shown']}" if cost.get("free") else "")
    if cost.get("total_usd") is None:
        return text + " · cost unknown"
    per = cost.get("usd_per_correct_task")
    return text + f" · {cost['shown']} · {'–' if per is None else f'${per:.4g}'} per correct task"
