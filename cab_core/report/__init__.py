"""The static report: ``cab report RESULTS --out DIR`` writes a site that needs no server.

:func:`build_site` is the one entry point.  What the pages show is plain data computed
from the cell records: :mod:`.load` (the first pass, one small ref per cell),
:mod:`.format`, :mod:`.axes` (every axis's card and column, from its scorer's record),
:mod:`.cell_view` and :mod:`.diff` (one cell), :mod:`.sweep_view` (one sweep);
:mod:`.plots` draws the sweep plots as SVG.  Writing it: :mod:`.site` runs the build,
:mod:`.sweep_page` and :mod:`.cell_page` render the Jinja2 templates in ``templates/``
(:mod:`.templating`), :mod:`.writer` writes every file scrubbed, and ``static/`` is
copied (our own CSS, the asciicast player, the trace stepper and the sortable tables:
no build step, no external fonts, scripts or requests).  :mod:`.data` re-exports the
older single-module names.  Importing this package imports Jinja2, so the
CLI imports it inside the command to keep ``cab --help`` fast.
"""

from __future__ import annotations

from .site import SiteResult, build_site

__all__ = ["build_site", "SiteResult"]
