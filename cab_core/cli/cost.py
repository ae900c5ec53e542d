"""The cost and budget options shared by ``cab run`` and ``cab sweep``, and their lines in ``cab run``'s summary.

One decorator adds ``--price``, ``--max-tokens``, ``--max-cost`` and
``--max-model-calls``; the command receives them as keyword arguments named like
the :class:`~cab_core.runner.RunOptions` fields they fill (``prices``,
``max_tokens``, ``max_cost``, ``max_model_calls``).
"""

from __future__ import annotations

from typing import Any, Callable

import click

#: The RunOptions / sweep-file keys these options fill.
COST_KEYS = ("prices", "max_tokens", "max_cost", "max_model_calls")


def cost_options(func: Callable) -> Callable:
    """Add the price and budget options to a click command."""
    options = [
        click.option("--price", "prices", multiple=True, metavar="MODEL=IN,OUT[,CACHED]",
                     help="Dollars per million tokens for MODEL (input, output, cached input), over the price "
                          "database; for local and custom models (repeatable)."),
        click.option("--max-tokens", type=click.IntRange(min=1), default=None,
                     help="Per cell: refuse model calls once this many tokens were spent."),
        click.option("--max-cost", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Per cell: refuse model calls once this many dollars were spent."),
        click.option("--max-model-calls", type=click.IntRange(min=1), default=None,
                     help="Per cell: refuse model calls past this many."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def cost_lines(result: Any) -> list[str]:
    """``cost`` and ``BUDGET EXCEEDED`` lines for ``cab run``'s summary."""
    from ..pricing import describe_cost

    lines = [f"  {'cost':<13} {describe_cost(result):>10}"]
    hit = result.budget_exceeded
    if hit:
        spent = hit.get("spent", {})
        dollars = spent.get("cost_usd")
        lines.append(f"  BUDGET EXCEEDED: {hit.get('budget')} {hit.get('limit'):g} (spent {spent.get('model_calls')} calls, "
                     f"{spent.get('tokens')} tokens, {'$?' if dollars is None else f'${dollars:.6g}'}; "
                     f"{hit.get('refused_calls')} call(s) refused)")
    return lines


def sweep_cost_layer(cost: dict) -> dict:
    """``cab sweep``'s cost options as a sweep-spec override layer (``None``: not given)."""
    from ..pricing import parse_price

    prices = {}
    for value in cost.get("prices") or ():
        model, _ = parse_price(value)  # a bad --price is one line naming it
        prices[model] = value.rpartition("=")[2]
    return {"prices": prices or None, "max_tokens": cost.get("max_tokens"), "max_cost": cost.get("max_cost"),
            "max_model_calls": cost.get("max_model_calls")}
