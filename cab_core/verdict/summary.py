"""Counting passed and failed tests in a test runner's summary lines: a cross-check only.

:func:`parse_counts` knows the summary lines of the runners cab's tasks use:

* pytest: ``3 failed, 2 passed, 1 error in 0.12s`` (errors count as failed;
  ``no tests ran in 0.01s`` is zero tests);
* cargo test: ``test result: ok. 5 passed; 0 failed; ...``, summed over every test
  binary (unit tests, integration tests, doc-tests);
* node --test: ``# pass 3`` / ``# fail 1`` (TAP reporter) or ``ℹ pass 3`` /
  ``ℹ fail 1`` (spec reporter); cancelled tests count as failed;
* go test: top-level ``--- PASS: TestX`` / ``--- FAIL: TestX`` lines (``-v``), or,
  when there are none, the ``ok  pkg`` / ``FAIL  pkg`` package lines, one count per
  package.  Without ``-v`` a failing run lists only its failures, so passes are
  under-counted there: nothing in the output says how many tests passed;
* a plain ``N passed, M failed`` line, optionally ``, K skipped``, optionally after
  one word and a colon (``Results: 4 passed, 0 failed``).

When the output holds several runners' summaries (``cargo test && pytest``) their
counts are added.  The output usually comes from a pty, so colour codes and
carriage returns are removed first.
"""

from __future__ import annotations

import re
from typing import Optional

from ..ansi import strip_ansi

__all__ = ["parse_counts", "clean_output"]

_PYTEST_SUMMARY = re.compile(r"^[=\s]*(?P<body>.*?)\s+in\s+\d+(?:\.\d+)?s\b")
_PYTEST_ITEM = re.compile(r"(\d+)\s+(passed|failed|errors?|skipped|deselected|xfailed|xpassed|warnings?|rerun)\b")
_CARGO = re.compile(r"^\s*test result: \w+\. (\d+) passed; (\d+) failed\b")
_NODE = re.compile(r"^\s*[#ℹ]\s*(pass|fail|cancelled)\s+(\d+)\s*$")
_GO_TEST = re.compile(r"^--- (PASS|FAIL): \S+")
_GO_PACKAGE = re.compile(
    r"^(ok|FAIL)\s+\S+\s+(?:\d+(?:\.\d+)?s|\(cached\)|\[(?:build|setup) failed\])(?P<rest>.*)$"
)
#: Catch2 (Exercism's C++ track): "All tests passed (5 assertions in 3 test cases)" or
#: "test cases: 3 | 2 passed | 1 failed" (also "test cases: 2 | 2 failed").
_CATCH_ALL = re.compile(r"^All tests passed \(\d+ assertions? in (\d+) test cases?\)")
_CATCH_SOME = re.compile(r"^test cases:\s*(\d+)\s*\|(?:\s*(\d+) passed\s*\|?)?(?:\s*(\d+) failed)?")
_PLAIN = re.compile(r"^\s*(?:\w+:\s*)?(\d+) passed, (\d+) failed(?:, \d+ skipped)?\s*\.?\s*$")


def clean_output(text: str) -> str:
    """``text`` without terminal escape sequences, with ``\\n`` line ends only."""
    text = strip_ansi(text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _pytest(lines: list[str]) -> Optional[tuple[int, int]]:
    passed = failed = 0
    found = False
    for line in lines:
        match = _PYTEST_SUMMARY.match(line)
        if not match:
            continue
        body = match.group("body").strip(" =")
        if body == "no tests ran":
            found = True
            continue
        items = _PYTEST_ITEM.findall(body)
        # The whole body must be count items, so a log line that merely ends in
        # "in 3s" is not taken for a summary.
        if not items or _PYTEST_ITEM.sub("", body).strip(" ,") != "":
            continue
        found = True
        for count, kind in items:
            if kind == "passed":
                passed += int(count)
            elif kind in ("failed", "error", "errors"):
                failed += int(count)
    return (passed, failed) if found else None


def _cargo(lines: list[str]) -> Optional[tuple[int, int]]:
    hits = [m for m in map(_CARGO.match, lines) if m]
    if not hits:
        return None
    return sum(int(m.group(1)) for m in hits), sum(int(m.group(2)) for m in hits)


def _node(lines: list[str]) -> Optional[tuple[int, int]]:
    passed = failed = 0
    seen = set()
    for match in filter(None, map(_NODE.match, lines)):
        kind, count = match.group(1), int(match.group(2))
        seen.add(kind)
        if kind == "pass":
            passed += count
        else:
            failed += count
    # Both "pass" and "fail" are always printed; one of them alone is not node's summary.
    return (passed, failed) if {"pass", "fail"} <= seen else None


def _go(lines: list[str]) -> Optional[tuple[int, int]]:
    tests = [m.group(1) for m in map(_GO_TEST.match, lines) if m]
    if tests:
        return tests.count("PASS"), tests.count("FAIL")
    packages = [m for m in map(_GO_PACKAGE.match, lines) if m]
    if not packages:
        return None
    passed = sum(1 for m in packages if m.group(1) == "ok" and "[no tests to run]" not in m.group("rest"))
    failed = sum(1 for m in packages if m.group(1) == "FAIL")
    return passed, failed


def _catch2(lines: list[str]) -> Optional[tuple[int, int]]:
    for line in reversed(lines):
        match = _CATCH_ALL.match(line)
        if match:
            return int(match.group(1)), 0
        match = _CATCH_SOME.match(line)
        if match and (match.group(2) or match.group(3)):
            return int(match.group(2) or 0), int(match.group(3) or 0)
    return None


def _plain(lines: list[str]) -> Optional[tuple[int, int]]:
    hits = [m for m in map(_PLAIN.match, lines) if m]
    if not hits:
        return None
    return sum(int(m.group(1)) for m in hits), sum(int(m.group(2)) for m in hits)


_PARSERS = (_pytest, _cargo, _node, _go, _catch2, _plain)


def parse_counts(output: Optional[str]) -> Optional[tuple[int, int]]:
    """``(passed, failed)`` read from a test run's output, or ``None`` if no summary is recognised.

    ``(0, 0)`` means a runner reported that no test ran.  Never raises.
    """
    if not output:
        return None
    lines = clean_output(output).split("\n")
    total: Optional[tuple[int, int]] = None
    for parser in _PARSERS:
        counts = parser(lines)
        if counts is not None:
            total = counts if total is None else (total[0] + counts[0], total[1] + counts[1])
    return total
