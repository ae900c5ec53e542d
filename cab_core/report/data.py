"""What the report shows, computed from the cell records: plain data, no HTML.

The site (:mod:`cab_core.report.site`) renders what these modules return:

* :mod:`.load` -- the first pass, one small :class:`CellRef` per readable cell;
* :mod:`.format` -- how values are written (numbers, durations, percentages, JSON);
* :mod:`.cell_view` and :mod:`.diff` -- one cell's page (scores, trace, calls, terminal, diff);
* :mod:`.sweep_view` -- a sweep's page (task matrix, latency samples, manifest);
* :mod:`.axes` -- the axis cards, each drawn from its scorer's record.

Every text taken from a cell goes through a :class:`~cab_core.secrets.Scrubber` first:
the run's records were masked when written, and this is the second pass (belt and
braces).  This module re-exports the names the site and older callers use.
"""

from __future__ import annotations

from ..results import CELL_FILE
from ..secrets import Scrubber, scrub_json_text
from .axes import axis_cards, composite_parts, records_for, token_warnings
from .cell_view import (MAX_CAST_CHARS, breakdown_rows, calls_view, cast_view, identity_rows, reproduce,
                        trace_view)
from .diff import MAX_DIFF_LINES, MAX_INTRALINE, diff_view
from .format import (MAX_TEXT, agent_tokens_line, clip, compact_json, fmt_int, fmt_ms, fmt_num, fmt_pct, fmt_time,
                     one_line, pretty_json, real, texts)
from .load import (ARTIFACTS, CellRef, describe_error, load_refs, outcome_of, read_ref, read_result, safe_part, scan,
                   site_dir_of)
from .sweep_view import group_label, latency_samples, manifest_rows, matrix_view, read_manifest, sweep_command, sweep_span

__all__ = [
    "ARTIFACTS", "token_warnings", "CELL_FILE", "Scrubber", "CellRef", "load_refs", "read_result", "axis_cards",
    "composite_parts", "breakdown_rows", "trace_view", "calls_view", "diff_view", "cast_view", "identity_rows",
    "reproduce", "matrix_view", "latency_samples", "outcome_of", "fmt_num", "fmt_ms", "fmt_pct", "fmt_int",
    "agent_tokens_line", "fmt_time", "group_label", "read_manifest", "manifest_rows", "site_dir_of", "safe_part",
    "MAX_TEXT", "MAX_DIFF_LINES", "MAX_INTRALINE", "MAX_CAST_CHARS", "clip", "compact_json", "pretty_json", "one_line",
    "real", "texts", "scan", "read_ref", "describe_error", "sweep_span", "sweep_command", "scrub_json_text",
    "records_for",
]
