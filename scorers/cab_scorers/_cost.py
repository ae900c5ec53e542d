"""The ``cost`` block of the tokens axis: dollars per cell and per correct task.

Read from the model calls' ``cost_usd`` (filled in by the core from the cell's price
table: the price database or ``--price``).  ``total_usd`` is ``None`` when any call's
price is unknown: a partial sum would read as a real, too-low cost, and an unknown
is never 0.  Calls the built-in scripted server answered are free by definition:
``free`` is true and ``total_usd`` 0.  ``usd_per_correct_task`` is ``total_usd /
pass``: ``None`` when nothing passed or the cost is unknown.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Optional


def cost_block(calls: Any, passed: Optional[float]) -> dict:
    """The ``cost`` breakdown for ``calls`` (see the module docstring)."""
    calls = list(calls)
    unknown = sum(1 for c in calls if getattr(c, "cost_usd", None) is None)
    total: Optional[float] = None
    if not unknown:
        total = float(sum((Decimal(str(c.cost_usd)) for c in calls), Decimal(0)))
    free = bool(calls) and all(getattr(c, "price_source", "") == "free (scripted)" for c in calls)
    per_correct = total / passed if total is not None and passed else None
    return {
        "total_usd": total,
        "usd_per_correct_task": per_correct,
        "priced_calls": len(calls) - unknown,
        "unknown_price_calls": unknown,
        "free": free,
        "shown": "free (scripted)" if free else ("unknown" if total is None else f"${total:.4g}"),
    }
