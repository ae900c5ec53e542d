"""The sweep page's plots, drawn as inline SVG on the server: no script, no library, instant.

Each function takes leaderboard entries (:func:`cab_core.stats.leaderboard`) and
returns SVG markup whose every label is escaped.  Colours come from the stylesheet
(classes ``s0``..``s9`` per adapter×model), so the plots follow the light/dark theme.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

from markupsafe import Markup, escape

from ..stats import quantile
from .data import fmt_int, fmt_ms, fmt_pct, group_label

PALETTE_SIZE = 10
LABEL_CHARS = 30
#: Point labels in the scatter plot up to this many groups; beyond it the shared legend names them.
SCATTER_LABELS = 6


def series_class(index: int) -> str:
    return f"s{index % PALETTE_SIZE}"


def _label(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _svg(width: int, height: int, body: list[str], label: str, cls: str) -> Markup:
    return Markup(
        f'<svg class="plot {cls}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">' + "".join(body) + "</svg>"
    )


#: The span a log axis may cover: records may hold any number, a plot only a readable range.
LOG_FLOOR, LOG_CEIL = 1e-3, 1e15


def _log_range(values: Sequence[float], pad: float, default: tuple[float, float]) -> tuple[float, float]:
    """The ``(lo, hi)`` of a log axis over the positive finite ``values``, padded, clamped, at least 4× wide."""
    kept = [min(max(v, LOG_FLOOR), LOG_CEIL) for v in values
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0]
    lo, hi = (max(min(kept) / pad, LOG_FLOOR), min(max(kept) * pad, LOG_CEIL)) if kept else default
    if hi / lo < 4:
        mid = math.sqrt(lo * hi)
        lo, hi = mid / 2, mid * 2
    return lo, hi


def _log_ticks(lo: float, hi: float) -> list[float]:
    ticks = []
    start, stop = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    for e in range(start, stop + 1):
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo <= v <= hi:
                ticks.append(v)
    if len(ticks) > 8:
        ticks = [t for t in ticks if str(t).lstrip("0.").startswith("1")]
    return ticks


def _short_duration(ms: float) -> str:
    if ms < 1000:
        return f"{ms:g} ms"
    s = ms / 1000
    return f"{s:g} s" if s < 600 else f"{s / 60:.0f} min"


def _short_number(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def forest(board: Sequence[Mapping[str, Any]]) -> Markup:
    """Pass rate per adapter×model as a dot with its 95 % Wilson interval as an error bar."""
    left, right, row_h, top = 232, 52, 28, 26
    width = 660
    plot_w = width - left - right
    height = top + row_h * max(len(board), 1) + 28
    body = []
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        x = left + t * plot_w
        body.append(f'<line class="grid" x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{height - 24}"/>')
        body.append(f'<text class="tick" x="{x:.1f}" y="{height - 8}" text-anchor="middle">{int(t * 100)}%</text>')
    body.append(f'<text class="axis-title" x="{left}" y="14">pass rate, 95% Wilson interval</text>')
    for i, e in enumerate(board):
        y = top + i * row_h + row_h / 2
        label = group_label(e["adapter"], e["model"])
        body.append(f'<text class="label" x="{left - 10}" y="{y + 4:.1f}" text-anchor="end">'
                    f'<title>{escape(label)}</title>{escape(_label(label))}</text>')
        p = e.get("pass_rate")
        if p is None:
            body.append(f'<text class="tick" x="{left + 4}" y="{y + 4:.1f}">no scored cells</text>')
            continue
        lo, hi = e.get("ci_low") or 0.0, e.get("ci_high") or 0.0
        x0, x1, xp = left + lo * plot_w, left + hi * plot_w, left + p * plot_w
        tip = f"{label}: {fmt_pct(p, 1)} ({e['passes']}/{e['scored']}), 95% CI {fmt_pct(lo, 1)}–{fmt_pct(hi, 1)}"
        cls = series_class(i)
        body.append(f'<g class="{cls}"><title>{escape(tip)}</title>'
                    f'<line class="err" x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}"/>'
                    f'<line class="err" x1="{x0:.1f}" y1="{y - 6:.1f}" x2="{x0:.1f}" y2="{y + 6:.1f}"/>'
                    f'<line class="err" x1="{x1:.1f}" y1="{y - 6:.1f}" x2="{x1:.1f}" y2="{y + 6:.1f}"/>'
                    f'<circle class="dot" cx="{xp:.1f}" cy="{y:.1f}" r="5.5"/></g>')
        body.append(f'<text class="value" x="{width - right + 8}" y="{y + 4:.1f}">{fmt_pct(p)}</text>')
    return _svg(width, height, body, "Pass rate per adapter and model with 95% intervals", "forest")


def _point_label(label: str, x: float, y: float, i: int, placed: list, *, width: float, top: float) -> str:
    """A scatter point's label: right of the point (left near the right edge), moved down until it overlaps
    no label in ``placed`` (which it joins), with a leader line when it moved far."""
    text = _label(label, 24)
    w = len(text) * 6.2
    lx = x + 9 if x + 9 + w < width - 4 else x - 9 - w
    ly = y - 8 if y - 8 > top + 4 else y + 16
    for _ in range(12):
        box = (lx, ly - 10, lx + w, ly + 3)
        if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            break
        ly += 14
    placed.append((lx, ly - 10, lx + w, ly + 3))
    leader = (f'<line class="leader" x1="{x:.1f}" y1="{y:.1f}" x2="{lx if lx > x else lx + w:.1f}" y2="{ly - 4:.1f}"/>'
              if abs(ly - y) > 20 else "")
    return (f'<g class="{series_class(i)}">{leader}<text class="point-label" x="{lx:.1f}" y="{ly:.1f}">'
            f'<title>{escape(label)}</title>{escape(text)}</text></g>')


def tokens_vs_pass(board: Sequence[Mapping[str, Any]]) -> Markup:
    """Tokens per correct task (log x) against pass rate (y), one point per adapter×model."""
    width, height = 620, 340
    left, right, top, bottom = 50, 24, 24, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    lo, hi = _log_range([e.get("tokens_per_correct") for e in board], 1.6, (100.0, 10_000.0))
    band = 34  # left band for "no tokens", right band for "nothing passed"
    inner_l, inner_r = left + band, left + plot_w - band

    def x_of(v: Optional[float]) -> float:
        if v is None or not math.isfinite(v):
            return left + plot_w - band / 2
        if v <= 0:
            return left + band / 2
        v = min(max(v, lo), hi)
        return inner_l + (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (inner_r - inner_l)

    def y_of(p: float) -> float:
        return top + (1 - p) * plot_h

    body = [f'<rect class="band" x="{left}" y="{top}" width="{band}" height="{plot_h}"/>',
            f'<rect class="band" x="{left + plot_w - band}" y="{top}" width="{band}" height="{plot_h}"/>',
            f'<text class="tick" x="{left + band / 2}" y="{height - bottom + 16}" text-anchor="middle">0</text>',
            f'<text class="tick" x="{left + plot_w - band / 2}" y="{height - bottom + 16}" text-anchor="middle">'
            f'<title>tokens spent, nothing passed</title>∞</text>']
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        y = y_of(t)
        body.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>')
        body.append(f'<text class="tick" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{int(t * 100)}%</text>')
    for v in _log_ticks(lo, hi):
        x = x_of(v)
        body.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}"/>')
        body.append(f'<text class="tick" x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{_short_number(v)}</text>')
    body.append(f'<text class="axis-title" x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">'
                f'tokens per correct task (log scale) →  fewer is cheaper</text>')
    body.append(f'<text class="axis-title" x="14" y="{top + plot_h / 2}" text-anchor="middle" '
                f'transform="rotate(-90 14 {top + plot_h / 2})">pass rate</text>')
    points, labels = [], []
    placed: list[tuple[float, float, float, float]] = []
    for i, e in enumerate(board):
        p = e.get("pass_rate")
        if p is None:
            continue
        x, y = x_of(e.get("tokens_per_correct")), y_of(p)
        label = group_label(e["adapter"], e["model"])
        tip = (f"{label}: pass {fmt_pct(p, 1)}, "
               f"{fmt_int(e.get('tokens_per_correct')) if e.get('tokens_per_correct') is not None else '∞'} tokens per correct task")
        ylo, yhi = y_of(e.get("ci_low") or p), y_of(e.get("ci_high") or p)
        points.append(f'<g class="{series_class(i)}"><title>{escape(tip)}</title>'
                      f'<line class="err" x1="{x:.1f}" y1="{ylo:.1f}" x2="{x:.1f}" y2="{yhi:.1f}"/>'
                      f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="6"/></g>')
        if len(board) > SCATTER_LABELS:
            continue
        labels.append(_point_label(label, x, y, i, placed, width=width, top=top))
    body += points + labels
    return _svg(width, height, body, "Tokens per correct task against pass rate", "scatter")


def latency(board: Sequence[Mapping[str, Any]], samples: Mapping[tuple[str, str], Sequence[float]]) -> Markup:
    """Wall-clock latency per adapter×model: every cell as a dot, the box from p25 to p75, whiskers p10–p90."""
    left, right, row_h, top = 232, 64, 30, 26
    width = 660
    plot_w = width - left - right
    height = top + row_h * max(len(board), 1) + 30
    lo, hi = _log_range([v for vs in samples.values() for v in vs], 1.5, (100.0, 10_000.0))

    def x_of(v: float) -> float:
        v = min(max(v, lo), hi)
        return left + (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * plot_w

    body = [f'<text class="axis-title" x="{left}" y="14">wall clock per cell, log scale · box p25–p75 · '
            f'whiskers p10–p90</text>']
    for v in _log_ticks(lo, hi):
        x = x_of(v)
        body.append(f'<line class="grid" x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{height - 26}"/>')
        body.append(f'<text class="tick" x="{x:.1f}" y="{height - 10}" text-anchor="middle">{escape(_short_duration(v))}</text>')
    for i, e in enumerate(board):
        y = top + i * row_h + row_h / 2
        label = group_label(e["adapter"], e["model"])
        body.append(f'<text class="label" x="{left - 10}" y="{y + 4:.1f}" text-anchor="end">'
                    f'<title>{escape(label)}</title>{escape(_label(label))}</text>')
        vs = sorted(v for v in samples.get((e["adapter"], e["model"]), ()) if v > 0)
        if not vs:
            continue
        p10, p25, p50, p75, p90 = (quantile(vs, f) for f in (0.1, 0.25, 0.5, 0.75, 0.9))
        cls = series_class(i)
        tip = f"{label}: median {fmt_ms(p50)}, p90 {fmt_ms(p90)}, {len(vs)} cells"
        parts = [f'<g class="{cls}"><title>{escape(tip)}</title>']
        step = max(1, len(vs) // 150)
        for j, v in enumerate(vs[::step]):
            jitter = (((j * 2654435761) % 4096) / 4096 - 0.5) * 11  # spread, without a visible pattern
            parts.append(f'<circle class="pt" cx="{x_of(v):.1f}" cy="{y + jitter:.1f}" r="2"/>')
        parts.append(f'<line class="err" x1="{x_of(p10):.1f}" y1="{y:.1f}" x2="{x_of(p25):.1f}" y2="{y:.1f}"/>'
                     f'<line class="err" x1="{x_of(p75):.1f}" y1="{y:.1f}" x2="{x_of(p90):.1f}" y2="{y:.1f}"/>'
                     f'<rect class="box" x="{x_of(p25):.1f}" y="{y - 8:.1f}" width="{max(x_of(p75) - x_of(p25), 1.5):.1f}" height="16" rx="3"/>'
                     f'<line class="median" x1="{x_of(p50):.1f}" y1="{y - 9:.1f}" x2="{x_of(p50):.1f}" y2="{y + 9:.1f}"/></g>')
        body.append("".join(parts))
        body.append(f'<text class="value" x="{width - right + 8}" y="{y + 4:.1f}">{escape(fmt_ms(p50))}</text>')
    return _svg(width, height, body, "Latency distribution per adapter and model", "latency")


def interval_bar(p: Optional[float], lo: Optional[float], hi: Optional[float]) -> Markup:
    """The small inline error bar in a leaderboard cell."""
    if p is None:
        return Markup("")
    w = 100
    return Markup(
        f'<svg class="ci" viewBox="0 0 {w} 12" width="{w}" height="12" aria-hidden="true">'
        f'<line class="track" x1="0" y1="6" x2="{w}" y2="6"/>'
        f'<line class="err" x1="{(lo or 0) * w:.1f}" y1="6" x2="{(hi or 0) * w:.1f}" y2="6"/>'
        f'<line class="err" x1="{(lo or 0) * w:.1f}" y1="2" x2="{(lo or 0) * w:.1f}" y2="10"/>'
        f'<line class="err" x1="{(hi or 0) * w:.1f}" y1="2" x2="{(hi or 0) * w:.1f}" y2="10"/>'
        f'<circle class="dot" cx="{p * w:.1f}" cy="6" r="3.5"/></svg>'
    )


__all__ = ["forest", "tokens_vs_pass", "latency", "interval_bar", "series_class"]
