"""How the report writes values: numbers, durations, percentages, times, JSON and clipped text.

Every formatter shows a missing or non-finite value as "–" (a breakdown is a plugin's
own JSON, so a value the report reads may be anything).  Used by the pages, the plots
and the templates (as filters).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any, Mapping, Optional

#: Characters of one message, completion or output shown inline.
MAX_TEXT = 200_000


def real(value: Any) -> Optional[float]:
    """``value`` when it is a finite number (not a bool), else None: what every formatter shows as "–".

    Breakdowns are a plugin's own JSON, so a number the report reads may be anything.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def texts(value: Any) -> list[str]:
    """A breakdown's list of names as strings; ``[]`` for anything that is not a list."""
    return [v if isinstance(v, str) else compact_json(v) for v in value] if isinstance(value, (list, tuple)) else []


def fmt_num(value: Any, digits: int = 3) -> str:
    """A score: ``0.995``; integers stay integers; ``–`` for none or anything not a finite number."""
    if isinstance(value, bool):
        return str(int(value))
    value = real(value)
    if value is None:
        return "–"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.{digits}f}"


def fmt_int(value: Any) -> str:
    """A count: ``4,524``; ``–`` for none or anything that is not a finite number (never raises)."""
    if isinstance(value, bool):
        return str(int(value))
    value = real(value)
    return "–" if value is None else f"{int(round(value)):,}"


def agent_tokens_line(agent_tokens: Any) -> Optional[str]:
    """The agent's own token count beside the proxy's, as one line; None when the cell has none.

    The record's shape is ``{"reported": {...totals}, "proxy": {...totals}, "agrees": bool}``;
    a record of any other shape (an older cab, a third-party adapter) still gives a line.
    """
    if not isinstance(agent_tokens, Mapping) or not agent_tokens:
        return None

    def total(part: Any) -> str:
        if isinstance(part, Mapping):
            part = part.get("total_tokens")
        return fmt_int(part)

    agrees = agent_tokens.get("agrees")
    verdict = "agrees" if agrees is True else "disagrees" if agrees is False else "not compared"
    return f"{total(agent_tokens.get('reported'))} reported · proxy {total(agent_tokens.get('proxy'))} · {verdict}"


def fmt_ms(ms: Any) -> str:
    """A duration in its natural unit: ``4.8 ms``, ``821 ms``, ``12.76 s``, ``3 m 05 s``; ``–`` for none."""
    ms = real(ms)
    if ms is None:
        return "–"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    s = ms / 1000
    if s < 120:
        return f"{s:.2f} s"
    m, s = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} m {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} m"


def fmt_pct(value: Any, digits: int = 0) -> str:
    value = real(value)
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def fmt_time(value: Optional[_dt.datetime]) -> str:
    if value is None:
        return "–"
    return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def clip(text: str, limit: int = MAX_TEXT) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters, and whether it was cut."""
    if text is None:
        return "", False
    return (text, False) if len(text) <= limit else (text[:limit], True)


def one_line(text: str, limit: int = 140) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
