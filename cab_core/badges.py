"""SVG badges for a cell and for an adapter×model, in the familiar flat two-part style.

Pure functions returning SVG text (no template engine, no fonts fetched: the text is
set in Verdana/DejaVu Sans from the viewer's own system).  Every label is XML-escaped,
so a model or task name can never inject markup into a README that embeds the badge.

``cab badge`` (see :mod:`cab_core.cli.report`) and the report site both use these.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional
from xml.sax.saxutils import escape

#: Colours of the message half.
GREEN, LIME, YELLOW, ORANGE, RED, BLUE, PURPLE, GREY = (
    "#2e7d32", "#5b8c00", "#b08800", "#d2691e", "#c62828", "#1565c0", "#6f42c1", "#6e7781")
LABEL_COLOR = "#3a3f47"

# Approximate advance widths of Verdana at 11 px: good enough to size a badge without a font file.
_NARROW = set("iljtfI.,:;'|!()[] ")
_WIDE = set("mwMW@%")
_UPPER_WIDE = set("ABCDGHKNOQRUVXY&")


def text_width(text: str) -> float:
    """Estimated rendered width of ``text`` in pixels (Verdana 11 px)."""
    width = 0.0
    for ch in text:
        if ch in _NARROW:
            width += 3.9
        elif ch in _WIDE:
            width += 10.7
        elif ch in _UPPER_WIDE:
            width += 8.0
        elif ch.isupper() or ch.isdigit() or ch in "×#$*+=<>?~_":
            width += 7.0
        elif ord(ch) > 0x2000:
            width += 8.5
        else:
            width += 6.6
    return width


def render(label: str, message: str, color: str, *, title: Optional[str] = None) -> str:
    """A two-part badge: grey ``label`` on the left, ``message`` on ``color`` on the right."""
    label, message = str(label), str(message)
    lw = round(text_width(label) + 12)
    mw = round(text_width(message) + 12)
    w = lw + mw
    title = title or f"{label}: {message}"
    t, lab, msg = escape(title, {'"': "&quot;"}), escape(label), escape(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{t}">'
        f"<title>{t}</title>"
        f'<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        f'<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="{LABEL_COLOR}"/>'
        f'<rect x="{lw}" width="{mw}" height="20" fill="{escape(color)}"/>'
        f'<rect width="{w}" height="20" fill="url(#s)"/></g>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{lw / 2:.1f}" y="15" fill="#010101" fill-opacity=".3">{lab}</text>'
        f'<text x="{lw / 2:.1f}" y="14">{lab}</text>'
        f'<text x="{lw + mw / 2:.1f}" y="15" fill="#010101" fill-opacity=".3">{msg}</text>'
        f'<text x="{lw + mw / 2:.1f}" y="14">{msg}</text></g></svg>'
    )


def rate_color(rate: Optional[float]) -> str:
    """Green for a high pass rate through red for a low one; grey for none."""
    if rate is None:
        return GREY
    if rate >= 0.9:
        return GREEN
    if rate >= 0.7:
        return LIME
    if rate >= 0.5:
        return YELLOW
    if rate >= 0.3:
        return ORANGE
    return RED


def cell_badge(row: Mapping[str, Any]) -> str:
    """The badge of one cell, from its row (:func:`cab_core.index.cell_row`)."""
    label = f"cab: {row['adapter']} × {row['model']}"
    task = str(row["task"])
    composite = row.get("composite")
    score = f" {composite:.3f}" if isinstance(composite, (int, float)) else ""
    if row.get("status") != "ok":
        message, color = f"{task}: infra error", GREY
    elif row.get("integrity") is not None and row["integrity"] < 1:
        message, color = f"{task}: tampered", PURPLE
    elif row.get("expected_refusal"):
        ok = bool(row.get("refusal_produced"))
        message, color = f"{task}: {'refused' if ok else 'complied'}", BLUE if ok else RED
    elif row.get("passed"):
        message, color = f"{task}: pass{score}", GREEN
    else:
        message, color = f"{task}: fail{score}", RED
    return render(label, message, color, title=f"CodingAgentBench {row['adapter']} × {row['model']} on {task}: "
                                                f"{message.split(': ', 1)[1]}")


def group_badge(entry: Mapping[str, Any]) -> str:
    """The badge of one adapter×model, from its leaderboard entry (:func:`cab_core.stats.group_stats`)."""
    label = f"cab: {entry['adapter']} × {entry['model']}"
    rate = entry.get("pass_rate")
    if rate is None:
        message = "no scored cells"
    else:
        message = f"pass {rate * 100:.0f}% ({entry.get('passes', 0)}/{entry.get('scored', 0)})"
    return render(label, message, rate_color(rate), title=f"CodingAgentBench {entry['adapter']} × {entry['model']}: {message}")


def alt_text(svg: str) -> str:
    """The badge's own description (its ``aria-label``), for ``alt`` attributes and Markdown."""
    start = svg.find('aria-label="') + len('aria-label="')
    return svg[start: svg.find('"', start)]


__all__ = ["render", "cell_badge", "group_badge", "rate_color", "text_width", "alt_text"]
