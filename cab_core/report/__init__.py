"""The static report: ``cab report RESULTS --out DIR`` writes a site that needs no server.

:func:`build_site` is the one entry point; :mod:`.data` computes what the pages show
from the cell records, :mod:`.plots` draws the sweep plots as SVG, :mod:`.site`
renders the Jinja2 templates in ``templates/`` and copies ``static/`` (our own CSS,
the asciicast player, the trace stepper and the sortable tables: no build step, no
external fonts, scripts or requests).  Importing this package imports Jinja2, so the
CLI imports it inside the command to keep ``cab --help`` fast.
"""

from __future__ import annotations

from .site import SiteResult, build_site

__all__ = ["build_site", "SiteResult"]
