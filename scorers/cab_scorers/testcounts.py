"""Summary-line counting moved to :mod:`cab_core.verdict.summary` (kept for plugins that import it)."""

from cab_core.verdict.summary import clean_output, parse_counts

__all__ = ["parse_counts", "clean_output"]
