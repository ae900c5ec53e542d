"""Helpers the axis modules share: pass/fail of a verify run, token sums, globs, keyword hits.

Every axis that needs "did the task pass?" or "how many tokens?" calls these, so two
axes can never disagree about the same fact.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Iterable, Mapping, Optional

from cab_core import AxisScore, ModelCall, ProcessResult, ScoreContext
from cab_core.globs import glob_match as _core_glob_match

from .testcounts import clean_output, parse_counts

#: How much of the verify output a pass_rate breakdown keeps.
TAIL_CHARS = 2000


# --------------------------------------------------------------------------- robustness


def never_raise(axis: str) -> Callable:
    """Decorate a ``score(ctx)`` so an unexpected exception becomes an :class:`AxisScore` with ``error``.

    The scorers are written not to raise; this is the last line of defence, so one
    odd run can never stop the other axes from being scored.
    """

    def wrap(func: Callable[[ScoreContext], AxisScore]) -> Callable[[ScoreContext], AxisScore]:
        @functools.wraps(func)
        def score(ctx: ScoreContext) -> AxisScore:
            try:
                return func(ctx)
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
                return AxisScore(axis=axis, value=None, error=reason)

        return score

    return wrap


def number(value: Any, default: Optional[float] = None) -> Optional[float]:
    """``value`` as a finite float, or ``default`` when it is missing or not a number."""
    if isinstance(value, bool) or value is None:
        return default
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default


def tail(text: Optional[str], chars: int = TAIL_CHARS) -> str:
    """The last ``chars`` characters of ``text``, without terminal escapes."""
    return clean_output(text or "")[-chars:]


# --------------------------------------------------------------------------- pass / fail


def verify_passed(verify: Optional[ProcessResult]) -> tuple[int, Optional[tuple[int, int]]]:
    """``(pass, counts)`` for a verify run: pass is 1 or 0, counts from :func:`parse_counts`.

    A run passes when it exited 0, did not time out, and its output reports at least
    one passing test and no failing one.  Output with no test counts fails whatever the
    exit code: code under test can end the test process with status 0 before a single
    test runs (``os._exit(0)`` at import).  No verify run is a fail.
    """
    if verify is None:
        return 0, None
    counts = parse_counts(verify.output)
    ok = verify.exit_code == 0 and not verify.timed_out
    if counts is None or counts[0] == 0 or counts[1] > 0:
        ok = False
    return int(ok), counts


def pass_value(ctx: ScoreContext) -> int:
    """The cell's pass (1/0): the pass_rate axis if it was already scored, else from ``ctx.verify``."""
    if ctx.verdict is not None:
        return int(ctx.verdict.passed)
    scored = ctx.scores.get("pass_rate") if ctx.scores else None
    if scored is not None and scored.breakdown.get("pass") in (0, 1):
        return int(scored.breakdown["pass"])
    return verify_passed(ctx.verify)[0]


# --------------------------------------------------------------------------- tokens


def token_totals(calls: Iterable[ModelCall]) -> tuple[int, int, int]:
    """``(prompt, completion, total)`` tokens over ``calls``.

    A call that reported prompt/completion counts but no total counts their sum.
    """
    prompt = completion = total = 0
    for call in calls or ():
        p = int(number(getattr(call, "prompt_tokens", 0), 0.0))
        c = int(number(getattr(call, "completion_tokens", 0), 0.0))
        t = int(number(getattr(call, "total_tokens", 0), 0.0))
        prompt += p
        completion += c
        total += t or (p + c)
    return prompt, completion, total


def tokens_per_correct(total_tokens: float, passed: float) -> Optional[float]:
    """Tokens spent per correct task: ``total / pass`` when the task passed, else ``None``.

    With nothing correct the ratio is undefined (stored null, shown "–"), never 0:
    0 would read as free, the best cost there is.
    """
    if passed > 0:
        return total_tokens / passed
    return None


# --------------------------------------------------------------------------- globs


def normalise_path(path: str) -> str:
    """A relative path without a leading ``./``, its separators kept as the diff has them.

    A backslash is a character of a file name on POSIX (``src\\merge.js`` is one
    top-level file), so rewriting it to ``/`` would credit an unrelated file as an
    expected change of ``src/merge.js``.
    """
    path = str(path)
    while path.startswith("./"):
        path = path[2:]
    return path


def glob_match(path: str, pattern: str) -> bool:
    """Whether relative ``path`` matches ``pattern``.

    fnmatch-style, except that ``*`` and ``?`` stay within one directory while
    ``**`` crosses directories (``src/**/*.rs`` matches ``src/a.rs`` and
    ``src/a/b.rs``; ``src/*.rs`` matches only the first).  A pattern ending in ``/``
    matches everything below that directory.
    """
    return _core_glob_match(normalise_path(path), normalise_path(pattern))


# --------------------------------------------------------------------------- refusals


def _fold(text: Optional[str]) -> str:
    # Models often write typographic apostrophes: "I can’t".
    return (text or "").lower().replace("\u2019", "'").replace("\u2018", "'")


def keywords_found(text: Optional[str], keywords: Iterable[str]) -> list[str]:
    """The ``keywords`` found in ``text`` (case-insensitive substring), in given order."""
    folded = _fold(text)
    found = []
    for keyword in keywords or ():
        if keyword and _fold(keyword) in folded and keyword not in found:
            found.append(keyword)
    return found


def breakdown_of(scores: Mapping[str, AxisScore], axis: str) -> Mapping[str, Any]:
    """The breakdown of ``axis`` in ``scores``, or an empty mapping."""
    score = scores.get(axis) if scores else None
    return score.breakdown if score is not None else {}
