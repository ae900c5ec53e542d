"""test_focus: the share of the files an agent changed that are inside the task's expected globs and not tests.

A third-party axis written only against cab's public API (``cab_core`` and
:mod:`cab_core.scoring`), to copy from.  It shows what a scorer declares so that cab
can show and use its axis like a built-in one:

- ``label`` "test focus": the column in ``cab summary`` and the line in ``cab run``;
- ``direction="higher"`` and ``format="ratio"``: 1.0 is best, and the composite takes
  the value as it is when a user weights it (``--weights test_focus=0.2``);
- ``aggregation="mean"``: a group of cells shows the mean share;
- ``note``: the one line beside the value (the first off-target files).

Value: ``focused / changed`` where ``changed`` is every added, removed or modified
file (:func:`cab_core.scoring.changed_paths`) and ``focused`` those matching an
expected glob (:func:`cab_core.scoring.expected_globs`, the task's and any an agent
plugin declared) that are not tests.  A test is a file matching one of the task's
``protected`` globs, or one whose path looks like a test (a ``test``/``tests``/
``__tests__``/``spec`` folder, ``test_*``, ``*_test.*``, ``*.test.*``, ``*.spec.*``).
Nothing changed: ``None`` with ``not_applicable`` (there was no work to judge).

Breakdown keys: ``test_focus``, ``changed``, ``focused``, ``tests_touched``, ``outside_expected``
(the other changed files that are not tests).
"""

from __future__ import annotations

import re

from cab_core import AxisScore, ScoreContext, Scorer, hookimpl
from cab_core.scoring import changed_paths, expected_globs, glob_match, never_raise

AXIS = "test_focus"
_TEST_DIR = re.compile(r"(^|/)(tests?|__tests__|spec)/")
_TEST_NAME = re.compile(r"(^|/)(test_[^/]*|[^/]*_test\.[^/]+|[^/]*\.(test|spec)\.[^/]+)$")


def is_test(path: str, protected=()) -> bool:
    """Whether ``path`` is a test: a protected glob matches it, or its folder or name says so."""
    return any(glob_match(path, g) for g in protected) or bool(_TEST_DIR.search(path) or _TEST_NAME.search(path))


@never_raise(AXIS)
def score(ctx: ScoreContext) -> AxisScore:
    """Score how focused the change was; value is ``test_focus`` (None when nothing changed)."""
    changed = changed_paths(ctx.changes)
    globs = expected_globs(ctx)
    tests = [p for p in changed if is_test(p, ctx.task.protected)]
    test_set = set(tests)
    outside = [p for p in changed if p not in test_set and not any(glob_match(p, g) for g in globs)]
    skip = set(tests) | set(outside)  # a set: a change of 100,000 files must not take minutes
    focused = [p for p in changed if p not in skip]
    value = len(focused) / len(changed) if changed else None
    breakdown = {"test_focus": value, "changed": changed, "focused": focused, "tests_touched": tests,
                 "outside_expected": outside}
    return AxisScore(axis=AXIS, value=value, breakdown=breakdown, not_applicable=not changed)


def note(score: AxisScore) -> str:
    """``off target: a.py, tests/x.py`` (the first five), or ``nothing changed``."""
    b = score.breakdown
    if not b.get("changed"):
        return "nothing changed"
    off = list(dict.fromkeys([*b.get("tests_touched", []), *b.get("outside_expected", [])]))
    return ("off target: " + ", ".join(off[:5])) if off else ""


@hookimpl
def cab_scorers():
    """The test_focus axis."""
    return [Scorer(name=AXIS, score=score, order=45, label="test focus", direction="higher", format="ratio",
                   aggregation="mean", note=note,
                   description="share of changed files inside the expected globs and not tests")]
