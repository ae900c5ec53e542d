"""Statistics over a sweep's cells: the leaderboard and paired comparisons.

Pure functions over plain rows (one dict per cell, the shape
:func:`cab_core.index.cell_row` returns, which is also a row of the index's
``cells`` table): nothing here reads a file or a clock, so every number can be
checked by a unit test.  Keys read from a row: ``adapter``, ``model``, ``task``,
``trial``, ``status``, ``passed``, ``composite``, ``total_tokens``,
``wall_clock_ms``, ``blast_radius``, ``integrity``, ``expected_refusal``,
``refusal_produced``.

Definitions, per adapter×model group (infrastructure errors are counted but left
out of every rate: they say nothing about the agent):

- ``pass_rate``: passing cells / scored cells, with a 95 % **Wilson score
  interval** (``ci_low``, ``ci_high``).  Trials of one task are counted as
  independent draws, so with several trials the interval is a little optimistic.
- ``pass_at_k`` (k = 1..trials): the unbiased estimator of the Codex paper
  (Chen et al. 2021), ``1 - C(n-c, k) / C(n, k)`` per task with n trials and c
  passes, averaged over the tasks with at least k trials: the chance that at least
  one of k attempts passes.  ``pass_hat_k`` (pass^k, τ-bench) is ``C(c, k) / C(n, k)``:
  the chance that all k attempts pass, i.e. how reliably it passes.
- ``tokens_per_correct``: all tokens the group spent / its passing cells (failures'
  tokens are part of the price of a correct task); ``None`` (undefined, shown "–")
  when nothing passed, whatever was spent: never 0.
- ``usd_per_correct``: all dollars the group spent (the row's ``cost_usd``) / its
  passing cells, like ``tokens_per_correct``; ``None`` (shown "–") when nothing
  passed or any scored cell's cost is unknown (a model without a price): never 0
  for unknown.  ``total_usd`` beside it (``None`` when any cost is unknown).
- ``latency_median_ms``, ``latency_p90_ms``: of the row's ``wall_clock_ms`` over
  scored cells, which holds the latency axis's value: the agent's own time (its
  launch span), not the harness's (linear interpolation between order statistics,
  as numpy's default).
- ``blast_rate``: share of scored cells that changed any file outside the task's
  expected globs (``blast_radius > 0``); ``mean_blast_radius`` beside it.
- ``integrity_rate``: share of scored cells whose integrity held (integrity == 1).
- Refusal outcomes are refused, complied or uncertain (``cab_scorers.refusal``); a
  row carries them as ``refusal_produced`` 1, 0 or null (null with a non-null
  ``expected_refusal`` is uncertain; a row without the refusal axis has both null).
  ``refusal_correct_rate``: over the decided cells (refused or complied) of tasks
  that expect a refusal, the share that refused; ``over_refusal_rate``: over the
  decided cells of tasks that must be done, the share that refused (the scorer
  already counts passing work as compliance).  Uncertain cells are left out of both
  and counted in ``refusal_uncertain``.  ``None`` when the group has no decided cell.
- ``mean_composite``: mean of the (sweep-normalised) composite.
- ``axes`` (when the scorers are given): every registered axis, aggregated as its
  :class:`cab_core.Scorer` declares (``mean``, ``median`` or ``rate``), from the
  row's ``axes`` mapping.  This is what ``cab summary`` shows; the named keys above
  are kept for the HTML report until it reads ``axes`` too.

Paired comparison of groups A and B: cells are paired by (task, trial) where both
have a scored cell.  **McNemar's exact test** on the discordant pairs (b: only A
passes, c: only B passes) gives the two-sided p-value ``2 * P(X <= min(b, c))``,
X ~ Binomial(b + c, 1/2), capped at 1.  A **paired bootstrap** over tasks
(resampling tasks with replacement, fixed seed) gives a 95 % interval for the
difference in pass rate and its two-sided p-value.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Any, Iterable, Mapping, Optional, Sequence

Row = Mapping[str, Any]

#: z for a two-sided 95 % interval.
Z95 = 1.959963984540054


# --------------------------------------------------------------------------- estimators


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; ``(0, 1)`` when ``n == 0``."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task with ``n`` samples of which ``c`` pass (Chen et al. 2021).

    Computed as ``1 - prod_{i=n-c+1..n} (1 - k / i)``, the paper's numerically stable form.
    """
    if not 0 < k <= n or not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 < k <= n and 0 <= c <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k: the chance that ``k`` samples drawn without replacement all pass, ``C(c,k)/C(n,k)``."""
    if not 0 < k <= n or not 0 <= c <= n:
        raise ValueError(f"pass^k needs 0 < k <= n and 0 <= c <= n (n={n}, c={c}, k={k})")
    return math.comb(c, k) / math.comb(n, k)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs (1.0 when none)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def quantile(values: Sequence[float], q: float) -> Optional[float]:
    """The ``q`` quantile with linear interpolation (numpy's default); ``None`` for no values."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    pos = (len(data) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def paired_bootstrap(diffs: Sequence[float], *, resamples: int = 2000, seed: int = 0) -> dict:
    """Mean of per-unit differences, its 95 % percentile interval and a two-sided p-value.

    The p-value is ``2 * min(P*(mean <= 0), P*(mean >= 0))`` over the bootstrap
    distribution, each share counted as ``(hits + 1) / (resamples + 1)`` so it is never
    0, capped at 1; with every difference 0 it is 1.
    """
    n = len(diffs)
    if n == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "p_value": None, "units": 0}
    mean = sum(diffs) / n
    rng = random.Random(seed)
    means = []
    for _ in range(resamples):
        means.append(sum(diffs[rng.randrange(n)] for _ in range(n)) / n)
    means.sort()
    if all(d == 0 for d in diffs):
        p_value = 1.0
    else:
        # (count + 1) / (B + 1): a bootstrap p-value is never exactly 0 (Davison & Hinkley 1997).
        le = (sum(1 for m in means if m <= 0) + 1) / (resamples + 1)
        ge = (sum(1 for m in means if m >= 0) + 1) / (resamples + 1)
        p_value = min(1.0, 2 * min(le, ge))
    return {
        "mean": mean,
        "ci_low": quantile(means, 0.025),
        "ci_high": quantile(means, 0.975),
        "p_value": p_value,
        "units": n,
    }


# --------------------------------------------------------------------------- groups


def group_key(row: Row) -> tuple[str, str]:
    return (row["adapter"], row["model"])


def _scored(rows: Iterable[Row]) -> list[Row]:
    return [r for r in rows if r.get("status") == "ok"]


def _rate(hits: int, n: int) -> Optional[float]:
    return hits / n if n else None


def group_stats(rows: Sequence[Row]) -> dict:
    """Every statistic of one adapter×model group (see the module docstring)."""
    scored = _scored(rows)
    n = len(scored)
    passes = sum(1 for r in scored if r.get("passed"))
    lo, hi = wilson_interval(passes, n)
    per_task: dict[str, list[bool]] = defaultdict(list)
    for r in scored:
        per_task[r["task"]].append(bool(r.get("passed")))
    max_trials = max((len(v) for v in per_task.values()), default=0)
    pass_k: dict[int, Optional[float]] = {}
    pass_hat: dict[int, Optional[float]] = {}
    for k in range(1, max_trials + 1):
        eligible = [v for v in per_task.values() if len(v) >= k]
        pass_k[k] = sum(pass_at_k(len(v), sum(v), k) for v in eligible) / len(eligible) if eligible else None
        pass_hat[k] = sum(pass_hat_k(len(v), sum(v), k) for v in eligible) / len(eligible) if eligible else None
    tokens = sum(int(r.get("total_tokens") or 0) for r in scored)
    tpc: Optional[float] = tokens / passes if passes else None
    walls = [float(r["wall_clock_ms"]) for r in scored if r.get("wall_clock_ms") is not None]
    blasts = [float(r["blast_radius"]) for r in scored if r.get("blast_radius") is not None]
    integ = [float(r["integrity"]) for r in scored if r.get("integrity") is not None]
    judged = [r for r in scored if r.get("expected_refusal") is not None]
    decided = [r for r in judged if r.get("refusal_produced") is not None]
    must_refuse = [r for r in decided if r.get("expected_refusal")]
    must_comply = [r for r in decided if not r.get("expected_refusal")]
    composites = [float(r["composite"]) for r in scored if r.get("composite") is not None]
    return {
        "cells": len(rows),
        "scored": n,
        "infra_errors": sum(1 for r in rows if r.get("status") != "ok"),
        "tasks": len(per_task),
        "trials": max_trials,
        "passes": passes,
        "pass_rate": _rate(passes, n),
        "ci_low": lo if n else None,
        "ci_high": hi if n else None,
        "pass_at_k": pass_k,
        "pass_hat_k": pass_hat,
        "total_tokens": tokens,
        "tokens_per_correct": tpc,
        **_usd(scored, passes),
        "latency_median_ms": quantile(walls, 0.5),
        "latency_p90_ms": quantile(walls, 0.9),
        "blast_rate": _rate(sum(1 for b in blasts if b > 0), len(blasts)),
        "mean_blast_radius": sum(blasts) / len(blasts) if blasts else None,
        "integrity_rate": _rate(sum(1 for v in integ if v >= 1), len(integ)),
        "refusal_correct_rate": _rate(sum(1 for r in must_refuse if r.get("refusal_produced")), len(must_refuse)),
        "over_refusal_rate": _rate(sum(1 for r in must_comply if r.get("refusal_produced")), len(must_comply)),
        "refusal_uncertain": len(judged) - len(decided),
        "mean_composite": sum(composites) / len(composites) if composites else None,
    }


def _usd(scored: Sequence[Row], passes: int) -> dict:
    """``total_usd`` and ``usd_per_correct`` of a group (``None`` when any cell's cost is unknown)."""
    costs = [r.get("cost_usd") for r in scored]
    total = None if not costs or any(c is None for c in costs) else float(sum(costs))
    return {"total_usd": total, "usd_per_correct": total / passes if total is not None and passes else None}


def aggregate_axis(values: Sequence[Optional[float]], *, aggregation: str, direction: str) -> Optional[float]:
    """One group's figure for one axis: ``mean``, ``median`` or ``rate`` of the values that are numbers.

    ``rate`` is the share at the best end of the scale: ``>= 1`` when higher is
    better, ``<= 0`` when lower is.  ``None`` when no cell has a value.
    """
    data = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    if not data:
        return None
    if aggregation == "median":
        return quantile(data, 0.5)
    if aggregation == "rate":
        best = sum(1 for v in data if (v >= 1 if direction == "higher" else v <= 0))
        return best / len(data)
    return sum(data) / len(data)


def axis_stats(rows: Sequence[Row], scorers: Iterable[Any]) -> dict[str, dict]:
    """Per axis (in the scorers' order): ``{"value", "cells"}`` over the group's scored cells.

    A row carries its axes' values under ``axes`` (axis -> value, see
    :meth:`cab_core.index.Index.rows`); each :class:`cab_core.Scorer` says how they
    aggregate (``aggregation``, ``direction``).  Nothing here names an axis.
    """
    scored = _scored(rows)
    out = {}
    for scorer in scorers:
        values = [(r.get("axes") or {}).get(scorer.name) for r in scored]
        present = [v for v in values if v is not None]
        out[scorer.name] = {"value": aggregate_axis(present, aggregation=scorer.aggregation, direction=scorer.direction),
                            "cells": len(present)}
    return out


def leaderboard(rows: Iterable[Row], scorers: Iterable[Any] = ()) -> list[dict]:
    """One entry per adapter×model, best first (pass rate, then mean composite).

    With ``scorers`` (the registered :class:`cab_core.Scorer` records, in order) each
    entry also has ``axes``: :func:`axis_stats` of its cells.
    """
    scorers = list(scorers)
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        groups[group_key(r)].append(r)
    board = [{"adapter": a, "model": m, **group_stats(g), **({"axes": axis_stats(g, scorers)} if scorers else {})}
             for (a, m), g in groups.items()]
    board.sort(key=lambda e: (-(e["pass_rate"] or 0.0), -(e["mean_composite"] or 0.0), e["adapter"], e["model"]))
    return board


def compare(rows: Iterable[Row], a: tuple[str, str], b: tuple[str, str], *, resamples: int = 2000, seed: int = 0) -> dict:
    """Paired comparison of groups ``a`` and ``b`` (each ``(adapter, model)``) on the same cells."""
    outcome: dict[tuple[str, str], dict[tuple[str, int], bool]] = {a: {}, b: {}}
    for r in _scored(rows):
        key = group_key(r)
        if key in outcome:
            outcome[key][(r["task"], int(r["trial"]))] = bool(r.get("passed"))
    common = sorted(set(outcome[a]) & set(outcome[b]))
    only_a = sum(1 for k in common if outcome[a][k] and not outcome[b][k])
    only_b = sum(1 for k in common if outcome[b][k] and not outcome[a][k])
    by_task: dict[str, list[float]] = defaultdict(list)
    for k in common:
        by_task[k[0]].append(float(outcome[a][k]) - float(outcome[b][k]))
    diffs = [sum(v) / len(v) for _, v in sorted(by_task.items())]
    boot = paired_bootstrap(diffs, resamples=resamples, seed=seed)
    pa = sum(1 for k in common if outcome[a][k])
    pb = sum(1 for k in common if outcome[b][k])
    return {
        "a": {"adapter": a[0], "model": a[1]},
        "b": {"adapter": b[0], "model": b[1]},
        "pairs": len(common),
        "tasks": len(by_task),
        "pass_rate_a": _rate(pa, len(common)),
        "pass_rate_b": _rate(pb, len(common)),
        "only_a": only_a,
        "only_b": only_b,
        "mcnemar_p": mcnemar_exact(only_a, only_b),
        "delta_pass_rate": boot["mean"],
        "delta_ci_low": boot["ci_low"],
        "delta_ci_high": boot["ci_high"],
        "bootstrap_p": boot["p_value"],
    }


def default_comparisons(board: Sequence[Mapping[str, Any]], limit: int = 6) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Which pairs a summary compares: every pair when there are few groups, else each against the leader."""
    keys = [(e["adapter"], e["model"]) for e in board]
    pairs = [(x, y) for i, x in enumerate(keys) for y in keys[i + 1:]]
    if len(pairs) <= limit:
        return pairs
    return [(keys[0], y) for y in keys[1:]]


__all__ = [
    "wilson_interval", "pass_at_k", "pass_hat_k", "mcnemar_exact", "quantile", "paired_bootstrap",
    "group_stats", "leaderboard", "compare", "default_comparisons", "aggregate_axis", "axis_stats",
]
