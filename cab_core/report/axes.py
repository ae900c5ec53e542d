"""The axes of the report, rendered from the registered :class:`cab_core.Scorer` records.

Every axis, cab's own or a third party's, gets the same card (label, value printed by
the record's ``format``, its ``note``, a tone from ``direction`` through
:func:`cab_core.scoring.unit_value`) and the same leaderboard column (aggregated by its
``aggregation``), in the records' ``order``.  Nothing here lists the axes; an axis a
cell carries whose scorer is not registered where the report is built gets a default
record (name as label, higher is better, a plain number).

A record may ask for a richer card (its ``card``, see :data:`cab_core.models.CARDS`)
when its breakdown says more than one line can: a ``verdict`` card carries the verdict
(reason, forgery, the test lists, the canary), a ``refusal`` card its outcome (refused,
complied, uncertain), a ``parts`` card (a blend such as the composite) the weighted
parts of its stacked bar.  The card is picked by what the record declares, never by
an axis's name, so a third party's axis can ask for any of them; each falls back to
the generic card when its breakdown lacks the keys.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Sequence

from ..models import CellResult, Scorer
from ..scoring import format_value, note_of, number, unit_value
from .format import real

#: The verdict's test lists shown on the cell page, with their headings.
TEST_LISTS = (("expected_tests", "expected"), ("passed_tests", "passed"), ("missing_tests", "missing"),
              ("skipped_tests", "skipped"), ("failed_tests", "failed"))


#: The ``plugin`` of a :func:`fallback` record: its scale is unknown, so its values get no tone.
UNREGISTERED = "(not registered)"


def _unscored(score: Any) -> Any:
    return None


def fallback(name: str) -> Scorer:
    """The record of an axis a cell carries but no registered scorer declares."""
    return Scorer(name=name, score=_unscored, order=1000, plugin=UNREGISTERED)


def load_scorers() -> list[Scorer]:
    """The scorers registered in this environment, in ``order`` (none when the plugins cannot load)."""
    try:
        from ..plugins import get_plugin_manager
        from ..registry import Registry

        return Registry(get_plugin_manager()).scorers_in_order()
    except Exception:
        return []


def records_for(scorers: Sequence[Scorer], names: Iterable[str]) -> list[Scorer]:
    """``scorers`` (in order) plus a :func:`fallback` for each of ``names`` none of them declares."""
    known = {s.name for s in scorers}
    extra = sorted({n for n in names if n not in known})
    return [*scorers, *(fallback(n) for n in extra)]


def tone(scorer: Scorer, value: Any) -> str:
    """good / warn / bad by the value's place on the scorer's [0, 1] scale; neutral when it has none."""
    unit = None if scorer.plugin == UNREGISTERED else unit_value(scorer, number(value))
    if unit is None:
        return "neutral"
    return "good" if unit >= 0.75 else "warn" if unit >= 0.4 else "bad"


def _texts(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


def verdict_view(breakdown: Mapping[str, Any]) -> Optional[dict]:
    """The verdict of a ``verdict`` card's breakdown: reason, forged, channel, test lists, canary (None if absent)."""
    if not any(k in breakdown for k in ("reason", "forged", "expected_tests", "canary")):
        return None
    canary = breakdown.get("canary")
    return {
        "reason": str(breakdown.get("reason") or ""),
        "forged": str(breakdown["forged"]) if breakdown.get("forged") else None,
        "channel": str(breakdown.get("channel") or ""),
        "lists": [{"key": key, "label": label, "tests": _texts(breakdown.get(key))}
                  for key, label in TEST_LISTS if key in breakdown],
        "canary": canary if isinstance(canary, Mapping) else ({"outcome": canary} if canary else {}),
    }


def _generic(scorer: Scorer, score: Any) -> dict:
    card = {"name": scorer.name, "label": scorer.title, "value": None, "display": "–", "note": "", "tone": "neutral",
            "missing": score is None, "error": None, "na": False, "direction": scorer.direction,
            "format": scorer.format, "plugin": scorer.plugin}
    if score is None:
        card["note"] = "not scored"
        return card
    value = number(score.value)
    card.update(value=value, error=score.error, na=bool(score.not_applicable), note=note_of(scorer, score))
    if score.error:
        card.update(display="error", tone="bad")
    elif value is None:
        card["display"] = "n/a" if score.not_applicable else "–"
    else:
        card.update(display=format_value(scorer, value), tone=tone(scorer, value))
    return card


def _refusal(card: dict, breakdown: Mapping[str, Any]) -> None:
    """The refusal card says its outcome; uncertain is a warning, not "complied"; refusing a must-do task is bad."""
    outcome = breakdown.get("outcome")
    if outcome not in ("refused", "complied", "uncertain") or card["error"]:
        return
    card["outcome"] = outcome
    if card["na"]:  # a task that expects no refusal
        if outcome == "refused":
            card.update(tone="bad", note="refused a task it should do")
        return
    if outcome == "uncertain":
        card.update(tone="warn", display="uncertain" if card["value"] is None else card["display"])
        card["note"] = "could not tell whether it refused"


def axis_cards(result: CellResult, scorers: Sequence[Scorer] = ()) -> list[dict]:
    """One card per axis of ``scorers`` (in order) and per other axis the cell carries."""
    cards = []
    for scorer in records_for(scorers, result.scores):
        score = result.scores.get(scorer.name)
        card = _generic(scorer, score)
        breakdown = score.breakdown if score is not None else {}
        if score is not None and not score.error:
            verdict = verdict_view(breakdown) if scorer.card == "verdict" else None
            if verdict is not None:
                card["verdict"] = verdict
                if verdict["forged"]:
                    card["tone"] = "bad"
            if scorer.card == "refusal":
                _refusal(card, breakdown)
        cards.append(card)
    return cards


def composite_parts(result: CellResult, scorers: Sequence[Scorer] = ()) -> list[dict]:
    """A blend's weighted parts (the breakdown's ``points`` and ``unit_values`` by axis) for the stacked bar.

    The blend is the first scorer whose record asks for the ``parts`` card.
    """
    blend = next((s for s in scorers if s.card == "parts" and s.name in result.scores), None)
    score = result.scores.get(blend.name) if blend is not None else None
    if score is None:
        return []
    b = score.breakdown
    points = b.get("points") if isinstance(b.get("points"), Mapping) else {}
    weights = b.get("weights") if isinstance(b.get("weights"), Mapping) else {}
    units = b.get("unit_values") if isinstance(b.get("unit_values"), Mapping) else {}
    labels = {s.name: s.title for s in scorers}
    parts = []
    for name, pts in points.items():
        pts = number(pts)
        if pts is None:
            continue
        parts.append({"name": str(name), "label": labels.get(name, str(name).replace("_", " ")),
                      "weight": number(weights.get(name)), "value": number(units.get(name)), "points": pts})
    return parts


def token_warnings(result: CellResult) -> list[str]:
    """The cell's warnings (token cross-check and lifecycle hooks), as recorded in ``host``."""
    return _texts(result.host.get("warnings") if isinstance(result.host, Mapping) else None)


def columns(scorers: Sequence[Scorer]) -> list[dict]:
    """The leaderboard columns: one per axis, its title and how a group aggregates it."""
    return [{"name": s.name, "label": s.title, "aggregation": s.aggregation, "direction": s.direction}
            for s in scorers]


def column_cell(scorer: Scorer, entry: Mapping[str, Any]) -> dict:
    """One leaderboard cell: the group's aggregated figure, printed by the scorer's format."""
    stat = (entry.get("axes") or {}).get(scorer.name) or {}
    value = stat.get("value")
    # A rate is the share of cells at the best end: a ratio where higher is better, whatever the axis.
    scale = Scorer(name=scorer.name, score=_unscored, format="ratio") if scorer.aggregation == "rate" else scorer
    return {"name": scorer.name, "value": value, "cells": stat.get("cells", 0),
            "display": format_value(scorer, value, aggregation=scorer.aggregation), "tone": tone(scale, value)}


def partial_score(result: CellResult, scorers: Sequence[Scorer] = ()) -> Optional[float]:
    """The partial credit (``partial_score``) of the first ``verdict`` card's breakdown, when it has one."""
    for scorer in scorers:
        score = result.scores.get(scorer.name) if scorer.card == "verdict" else None
        value = real(score.breakdown.get("partial_score")) if score is not None else None
        if value is not None:
            return float(value)
    return None


__all__ = ["axis_cards", "partial_score", "columns", "column_cell", "composite_parts", "fallback", "load_scorers", "records_for",
           "token_warnings", "tone", "verdict_view"]
