"""Kept for plugins that imported it: the shared helpers now live in :mod:`cab_core.scoring`."""

from cab_core.scoring import (  # noqa: F401
    TAIL_CHARS,
    breakdown_of,
    glob_match,
    keywords_found,
    never_raise,
    normalise_path,
    number,
    pass_value,
    tail,
    token_totals,
    tokens_per_correct,
    verify_passed,
)
