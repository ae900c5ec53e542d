"""Helpers for writing a scorer: the ones cab's own axes use, public so a third party's axis agrees with them.

A scorer is a :class:`cab_core.Scorer` record whose ``score(ctx)`` reads a
:class:`cab_core.ScoreContext` and returns a :class:`cab_core.AxisScore`.  What it may read:

- ``ctx.task`` (:class:`cab_core.Task`: ``expected_changes`` globs, ``protected``, ...),
  ``ctx.cell`` (its :class:`cab_core.CellId`);
- ``ctx.launch`` / ``ctx.verify`` (:class:`cab_core.ProcessResult` of the agent and of the
  test run; ``verify`` is None when there was none), ``ctx.verdict`` (the judged run);
- ``ctx.changes`` (:class:`cab_core.FileChanges`: added, removed, modified paths and the patch);
- ``ctx.model_calls`` (:class:`cab_core.ModelCall`, as the recording proxy saw them),
  ``ctx.final_output``, ``ctx.wall_clock_ms``;
- ``ctx.scores`` (aggregate scorers only: the other axes' scores) and ``ctx.scorers``
  (every registered :class:`cab_core.Scorer` by name);
- ``ctx.options``, the score options.  Keys cab sets: :data:`OPTION_EXTRA_EXPECTED`
  (globs an agent plugin declared, see :func:`expected_globs`), :data:`OPTION_WEIGHTS`
  (the composite's weights, from ``--weights`` or a sweep file's ``weights``), and, in a
  sweep, each scorer's ``reference_option`` (e.g. ``reference_tokens``) with the task's
  best passing value.

An exception raised by ``score`` is caught by the core and recorded as the axis's
``error`` (naming the plugin); :func:`never_raise` does the same inside the scorer so
the error names the axis.  The core never reads a breakdown's keys: what a view shows
comes from the record's ``label``, ``direction``, ``format``, ``note`` and
``aggregation`` (see :class:`cab_core.Scorer`).
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any, Callable, Iterable, Mapping, Optional

import attrs

from .errors import CabError, UnknownNameError, one_line
from .globs import glob_match as _glob_match
from .models import AxisScore, FileChanges, ModelCall, ProcessResult, ScoreContext, Scorer
from .verdict.summary import clean_output, parse_counts

#: ``ctx.options`` key: extra expected-change globs an agent plugin declared (a list of strings).
OPTION_EXTRA_EXPECTED = "extra_expected_changes"
#: ``ctx.options`` key: the composite's weights, axis name -> weight (normalised to sum 1 by the composite).
OPTION_WEIGHTS = "composite_weights"
#: How much of a process's output :func:`tail` keeps.
TAIL_CHARS = 2000
#: The amount at which the lone-cell curve of :func:`unit_value` gives 0.5, per format.
AMOUNT_SCALES: Mapping[str, float] = {"ms": 10_000.0, "tokens": 10_000.0, "count": 10.0, "number": 10.0}


# --------------------------------------------------------------------------- robustness


def never_raise(axis: str) -> Callable:
    """Decorate a ``score(ctx)`` so an unexpected exception becomes an :class:`AxisScore` with ``error``."""

    def wrap(func: Callable[[ScoreContext], AxisScore]) -> Callable[[ScoreContext], AxisScore]:
        @functools.wraps(func)
        def score(ctx: ScoreContext) -> AxisScore:
            try:
                return func(ctx)
            except Exception as exc:
                return AxisScore(axis=axis, value=None, error=one_line(exc))

        return score

    return wrap


def number(value: Any, default: Optional[float] = None) -> Optional[float]:
    """``value`` as a finite float, or ``default`` when it is missing, a bool or not a number."""
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
    """``(pass, counts)`` of a verify run judged by its summary line (no run: a fail).

    Passes when it exited 0, did not time out, and reports at least one passing test
    and no failing one (output with no counts fails whatever the exit code).
    """
    if verify is None:
        return 0, None
    counts = parse_counts(verify.output)
    ok = verify.exit_code == 0 and not verify.timed_out
    if counts is None or counts[0] == 0 or counts[1] > 0:
        ok = False
    return int(ok), counts


def pass_value(ctx: ScoreContext) -> int:
    """The cell's pass (1/0): the verdict's, else the pass_rate axis's if scored, else from ``ctx.verify``."""
    if ctx.verdict is not None:
        return int(ctx.verdict.passed)
    scored = ctx.scores.get("pass_rate") if ctx.scores else None
    if scored is not None and scored.breakdown.get("pass") in (0, 1):
        return int(scored.breakdown["pass"])
    return verify_passed(ctx.verify)[0]


# --------------------------------------------------------------------------- tokens


def token_totals(calls: Iterable[ModelCall]) -> tuple[int, int, int]:
    """``(prompt, completion, total)`` tokens over ``calls``; a call with no total counts prompt + completion."""
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
    """``total / pass`` when the task passed, else ``None`` (undefined, never 0: 0 would read as free)."""
    if passed > 0:
        return total_tokens / passed
    return None


# --------------------------------------------------------------------------- paths and globs


def normalise_path(path: str) -> str:
    """A relative path without a leading ``./`` (a backslash stays: it is a file-name character on POSIX)."""
    path = str(path)
    while path.startswith("./"):
        path = path[2:]
    return path


def glob_match(path: str, pattern: str) -> bool:
    """Whether relative ``path`` matches ``pattern``: ``*`` and ``?`` stay in one folder, ``**`` crosses
    folders, a pattern ending in ``/`` matches everything below it."""
    return _glob_match(normalise_path(path), normalise_path(pattern))


def expected_globs(ctx: ScoreContext) -> list[str]:
    """The globs of files the task may change: its ``expected_changes`` plus :data:`OPTION_EXTRA_EXPECTED`."""
    extra = ctx.options.get(OPTION_EXTRA_EXPECTED) or ()
    if isinstance(extra, str):
        extra = (extra,)
    return [str(g) for g in (*ctx.task.expected_changes, *extra) if g]


def changed_paths(changes: Optional[FileChanges]) -> list[str]:
    """Every added, removed or modified path, normalised, sorted, once (empty for no diff)."""
    if changes is None:
        return []
    return sorted({normalise_path(p) for p in (*changes.added, *changes.removed, *changes.modified)})


def patch_sections(patch: str) -> dict[str, str]:
    """Each file's part of a git patch (``ctx.changes.patch``), by its path as the file system has it
    (git's quoted paths, ``"b/\\303\\251.md"``, decoded)."""
    out: dict[str, str] = {}
    for part in re.split(r"(?m)^(?=diff --git )", patch or ""):
        m = re.search(r'(?m)^\+\+\+ (?:b/(.*)|"b/(.*)")$', part) or re.match(r"diff --git a/\S+ b/(.*)$()", part, re.M)
        if not m:
            continue
        path = m.group(1) if m.group(1) is not None else m.group(2)
        if m.group(2):
            try:
                path = m.group(2).encode("latin-1").decode("unicode_escape").encode("latin-1").decode("utf-8")
            except (UnicodeError, ValueError):
                path = m.group(2)
        out[path] = part
    return out


def content_changed(section: Optional[str]) -> bool:
    """Whether a file's patch section changes its content (a hunk or a binary patch), not only its mode."""
    if section is None:
        return True  # not in the patch (over its caps): assume it did
    return "\n@@ " in section or "GIT binary patch" in section or "\nBinary files " in section


# --------------------------------------------------------------------------- reading other axes


def keywords_found(text: Optional[str], keywords: Iterable[str]) -> list[str]:
    """The ``keywords`` found in ``text`` (case-insensitive, typographic apostrophes folded), in given order."""
    def fold(value: Optional[str]) -> str:
        return (value or "").lower().replace("\u2019", "'").replace("\u2018", "'")

    folded = fold(text)
    found = []
    for keyword in keywords or ():
        if keyword and fold(keyword) in folded and keyword not in found:
            found.append(keyword)
    return found


def breakdown_of(scores: Mapping[str, AxisScore], axis: str) -> Mapping[str, Any]:
    """The breakdown of ``axis`` in ``scores``, or an empty mapping."""
    score = scores.get(axis) if scores else None
    return score.breakdown if score is not None else {}


def axis_value(scores: Mapping[str, AxisScore], axis: str) -> Optional[float]:
    """The value of ``axis`` in ``scores``; ``None`` when absent, errored or not a number."""
    score = scores.get(axis) if scores else None
    if score is None or score.error:
        return None
    return number(score.value)


def _curve(amount: float, scale: float) -> float:
    return 1.0 / (1.0 + math.log10(1.0 + max(0.0, amount) / scale))


def unit_value(scorer: Scorer, value: Optional[float], reference: Optional[float] = None) -> Optional[float]:
    """``value`` of ``scorer``'s axis mapped onto [0, 1], 1 being best by the scorer's ``direction``.

    A ``ratio`` is clamped to [0, 1] (``1 - v`` when lower is better).  An amount (ms,
    tokens, count, number) where lower is better is ``min(1, reference / v)`` against a
    sweep's ``reference`` (1 at or below it), else the lone-cell curve
    ``1 / (1 + log10(1 + v / scale))`` (1 at 0, 0.5 at nine times the format's
    :data:`AMOUNT_SCALES`, never 0); where higher is better, one minus that curve.
    ``None`` (or a negative amount) stays ``None``: a missing value earns nothing.
    """
    value = number(value)
    if value is None:
        return None
    if scorer.format == "ratio":
        v = min(1.0, max(0.0, value))
        return v if scorer.direction == "higher" else 1.0 - v
    if value < 0:
        return None
    scale = AMOUNT_SCALES.get(scorer.format, 10.0)
    if scorer.direction == "higher":
        return 1.0 - _curve(value, scale)
    reference = number(reference)
    if reference is not None and reference > 0:
        return 1.0 if value <= 0 else min(1.0, reference / value)
    return _curve(value, scale)


# --------------------------------------------------------------------------- running the scorers


def score_all(registry, ctx: ScoreContext, *, base: Optional[Mapping[str, AxisScore]] = None) -> dict[str, AxisScore]:
    """Run every scorer of ``registry``: per-axis ones first (by ``order``), then aggregates that read them.

    The one place scorers are invoked (a cell's scoring and a sweep's normalisation).
    With ``base`` (a cell's per-axis scores) only the aggregates run, on top of it.
    Each scorer sees ``ctx.scorers``; an exception or a result that is not an
    :class:`AxisScore` becomes that axis's ``error`` naming the plugin.
    """
    records = {s.name: s for s in registry.scorers}
    ctx = attrs.evolve(ctx, scorers=records)
    scores: dict[str, AxisScore] = dict(base or {})
    chosen = [s for s in records.values() if base is None or s.aggregate]
    for scorer in sorted(chosen, key=lambda s: (s.aggregate, s.order, s.name)):
        current = attrs.evolve(ctx, scores=dict(scores)) if scorer.aggregate else ctx
        try:
            score = scorer.score(current)
            if not isinstance(score, AxisScore):
                raise TypeError(f"returned {type(score).__name__}, not AxisScore")
            scores[scorer.name] = attrs.evolve(score, scorer=scorer.plugin)
        except Exception as exc:
            prefix = f"plugin {scorer.plugin!r} raised in scorer {scorer.name}: "
            scores[scorer.name] = AxisScore(axis=scorer.name, value=None, scorer=scorer.plugin,
                                            error=one_line(exc, prefix=prefix))
    return scores


# --------------------------------------------------------------------------- weights


def parse_weights(text: str) -> dict[str, float]:
    """``"AXIS=W,AXIS=W"`` (``--weights``) as a mapping; a malformed entry is a one-line :class:`CabError`."""
    weights: dict[str, float] = {}
    for item in (p.strip() for p in str(text).split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        weight = number(value) if sep else None
        if not name.strip() or weight is None or weight < 0:
            raise CabError(f"--weights: {item!r} is not AXIS=WEIGHT with a weight of 0 or more")
        weights[name.strip()] = weight
    return weights


def check_weights(weights: Mapping[str, Any], registry) -> None:
    """Every weighted name must be a registered, non-aggregate axis and every weight a number >= 0."""
    axes = sorted(s.name for s in registry.scorers if not s.aggregate)
    for name, value in (weights or {}).items():
        if name not in axes:
            raise CabError(f"weights: {UnknownNameError('axis', name, axes)}")
        weight = number(value)
        if weight is None or weight < 0:
            raise CabError(f"weights: axis {name!r} needs a weight of 0 or more, got {value!r}")


# --------------------------------------------------------------------------- showing a value


def format_value(scorer: Optional[Scorer], value: Any, *, aggregation: Optional[str] = None) -> str:
    """``value`` as a view prints it by the scorer's ``format`` ("–" for none); a rate prints as a share."""
    value = number(value)
    if value is None:
        return "–"
    fmt = scorer.format if scorer is not None else "number"
    if aggregation == "rate" or fmt == "ratio":
        return f"{value:.3f}"
    if fmt == "ms":
        return f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms"
    if fmt in ("tokens", "count"):
        return f"{value:.0f}" if value == int(value) or abs(value) >= 100 else f"{value:.1f}"
    return f"{value:.3f}"


def note_of(scorer: Optional[Scorer], score: AxisScore) -> str:
    """The scorer's one-line note for ``score`` ("" when it has none; a note that raises is shown as such)."""
    if score.error:
        return f"ERROR {score.error}"
    if scorer is None or scorer.note is None:
        return "n/a" if score.not_applicable else ""
    try:
        text = scorer.note(score)
    except Exception as exc:
        return one_line(exc, prefix="note failed: ")
    return " ".join(str(text or "").split())


__all__ = [
    "AMOUNT_SCALES", "OPTION_EXTRA_EXPECTED", "check_weights", "parse_weights", "OPTION_WEIGHTS", "TAIL_CHARS", "axis_value", "breakdown_of",
    "changed_paths", "expected_globs", "format_value", "glob_match", "keywords_found", "never_raise", "normalise_path",
    "note_of", "number", "pass_value", "patch_sections", "content_changed", "score_all", "tail", "token_totals", "tokens_per_correct", "unit_value", "verify_passed",
]
