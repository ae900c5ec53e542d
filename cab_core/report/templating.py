"""The report's Jinja2 environment and the safe ways data reaches a page.

Autoescape is on for every template and undefined names are errors; data for scripts
travels as JSON in a ``<script type="application/json">`` block no string inside it can
close (:func:`json_script`); links are built from on-disk path parts, each
percent-encoded (:func:`href`).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from . import plots
from .format import fmt_int, fmt_ms, fmt_num, fmt_pct

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")


def json_script(value: Any, element_id: str) -> Markup:
    """``value`` as a JSON data block no string inside it can close (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(f'<script type="application/json" id="{html.escape(element_id)}">{text}</script>')


def href(parts: Iterable[str], file: str = "index.html") -> str:
    """A relative URL from path components on disk (each percent-encoded)."""
    segs = [quote(p, safe="") for p in parts]
    return "/".join([*segs, file]) if file else "/".join(segs) + "/"


class _Environment(jinja2.Environment):
    """Jinja with ``a.b`` on a plain dict reading the key first (the view data is dicts): the stock
    order tries the attribute first and pays for a failed lookup on every field of every row."""

    def getattr(self, obj, attribute):
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def make_env() -> jinja2.Environment:
    """The template environment: autoescape everywhere, strict undefined, our filters."""
    env = _Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # one build, templates do not change under it: no stat per page
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=fmt_num, ms=fmt_ms, pct=fmt_pct, thousands=fmt_int, tojson_attr=_json_attr,
        json_script=json_script, ci=plots.interval_bar, series=plots.series_class,
    )
    return env


def _json_attr(value: Any) -> str:
    return json.dumps(value, default=str)
