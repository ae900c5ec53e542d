"""The one judge: from a test run's exit status, its structured report, the task's
expected test identities and the run's canaries, decide pass or fail, and whether the
verdict was forged.

``cab tasks validate``, the runner's verify step and the pass_rate scorer all read
the :class:`Verdict` this module makes; nothing else decides whether a task passed.

A verdict is **forged** when the run's own evidence contradicts itself in a way only
code under test can cause:

* a canary is missing from a complete report, or the must-fail canary passed;
* the run exited 0 although its must-fail canary failed (an exit forced from inside);
* the report was altered (its signature does not verify, lines after its end) or the
  run exited 0 without finishing its report;
* the runner's own summary counts fewer passed tests than the report holds (or is
  missing where the runner always prints one), or its
  output lists a test as failed that the report says passed (a report
  rewritten after the runner wrote it: its output cannot be taken back);
* an expected test was skipped or xfailed at run time (it passed for the reference
  solution in the same environment), or expected tests did not run while nothing else
  failed (tests unlinked, deselected).

Anything else that is not a clean pass is an honest fail.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence

import attrs

from .report import FAILURES, NOT_RUN, PASSED, TestReport
from .summary import parse_counts


@attrs.frozen(kw_only=True)
class Canaries:
    """The canary tests of one run: per test file, a must-pass and a must-fail test under fresh names."""

    pass_names: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    fail_names: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    files: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    why_not: Optional[str] = None

    @property
    def placed(self) -> bool:
        return bool(self.pass_names)

    @property
    def names(self) -> set[str]:
        return {*self.pass_names, *self.fail_names}


@attrs.frozen(kw_only=True)
class Verdict:
    """The judged outcome of one test run (see the module doc)."""

    passed: bool
    channel: str
    reason: str
    forged: Optional[str] = None
    exit_code: Optional[int] = None
    timed_out: bool = False
    expected_tests: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    passed_tests: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    failed_tests: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    missing_tests: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    skipped_tests: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    canary: Mapping = attrs.field(factory=dict, converter=dict)
    partial: Optional[float] = None
    report_complete: bool = False
    summary_counts: Optional[tuple[int, int]] = None
    summary_agrees: Optional[bool] = None

    def breakdown(self) -> dict:
        """The keys the pass_rate axis shows."""
        return {
            "pass": int(self.passed), "reason": self.reason, "forged": self.forged, "channel": self.channel,
            "exit_code": self.exit_code, "timed_out": self.timed_out,
            "expected_tests": list(self.expected_tests), "passed_tests": list(self.passed_tests),
            "failed_tests": list(self.failed_tests), "missing_tests": list(self.missing_tests),
            "skipped_tests": list(self.skipped_tests), "canary": dict(self.canary),
            "partial_score": self.partial, "report_complete": self.report_complete,
            "summary_counts": list(self.summary_counts) if self.summary_counts else None,
            "summary_agrees": self.summary_agrees,
        }


#: Channels whose runner prints a summary counting every test the report holds (canaries included):
#: a report claiming more passes than the runner printed was written by someone else.
COUNTED = ("pytest", "cargo", "lines")
#: Channels whose runner always ends with a summary line (pytest's ``-qq`` prints none).
SUMMARISED = ("cargo", "lines")


def _leaf(test_id: str) -> str:
    """The last name of a test id (``a.rs::tests::x`` -> ``x``; ``f.js::s > t`` -> ``t``)."""
    for sep in (" > ", "::"):
        test_id = test_id.rsplit(sep, 1)[-1]
    return test_id.split("[", 1)[0]


def judge(*, exit_code: Optional[int], timed_out: bool, output: str, report: Optional[TestReport],
          expected: Optional[Sequence[str]], canaries: Optional[Canaries] = None, channel: str = "summary",
          contradicted: Sequence[str] = ()) -> Verdict:
    """Judge one test run; never raises.

    ``contradicted`` names the tests the report says passed while the runner's own
    output lists them as failed (:meth:`cab_core.verdict.channel.Channel.contradicted`).
    """
    canaries = canaries or Canaries(why_not="no canaries")
    counts = parse_counts(output)
    base = dict(channel=channel, exit_code=exit_code, timed_out=timed_out, summary_counts=counts)
    if report is None:  # no structured channel: exit status and summary lines, as a weaker verdict
        ok = exit_code == 0 and not timed_out and counts is not None and counts[0] > 0 and counts[1] == 0
        why = "passed (exit 0, summary lines)" if ok else _plain_failure(exit_code, timed_out, counts)
        return Verdict(passed=ok, reason=why, canary={"placed": False, "why": canaries.why_not or "no structured report"},
                       partial=(counts[0] / sum(counts)) if counts and sum(counts) else None, **base)
    canary_by_leaf = {name: [] for name in canaries.names}
    tests: dict[str, str] = {}
    for test_id, outcome in report.outcomes.items():
        leaf = _leaf(test_id)
        if leaf in canary_by_leaf:
            canary_by_leaf[leaf].append(outcome)
        else:
            tests[test_id] = outcome
    want = tuple(sorted(expected)) if expected is not None else tuple(sorted(tests))
    passed = tuple(t for t in want if tests.get(t) == PASSED)
    failed = tuple(sorted(t for t, o in tests.items() if o in FAILURES))
    missing = tuple(t for t in want if t not in tests)
    skipped = tuple(t for t in want if tests.get(t) in NOT_RUN)
    passed_count = sum(1 for o in report.outcomes.values() if o == PASSED)
    base.update(expected_tests=want, passed_tests=passed, failed_tests=failed, missing_tests=missing,
                skipped_tests=skipped, report_complete=report.complete,
                partial=(len(passed) / len(want)) if want else None,
                summary_agrees=None if counts is None else counts[0] == passed_count)
    canary_info = _canary_info(canaries, canary_by_leaf)
    base["canary"] = canary_info

    def forged(how: str) -> Verdict:
        return Verdict(passed=False, forged=how, reason=f"verdict forged: {how}", **base)

    if timed_out:
        return Verdict(passed=False, reason="the test run timed out", **base)
    if report.problem and report.complete:
        return forged(report.problem)
    disagreement = _output_disagrees(channel, counts, report, passed_count, contradicted)
    if disagreement:
        return forged(disagreement)
    if not report.complete:
        if exit_code == 0:
            return forged(f"the test run exited 0 without finishing its report ({report.problem or 'incomplete'})")
        return Verdict(passed=False, reason=f"the test run did not complete (exit {exit_code}): {report.problem or 'incomplete report'}", **base)
    if canaries.placed:
        if canary_info["problem"] and canary_info["missing_only"] and failed and exit_code not in (0, None):
            # A test file that failed to load (a syntax error in the code it imports) takes its
            # canaries with it: an honest failure, which gains nothing (its tests did not pass either).
            return Verdict(passed=False, reason=f"the test run failed before its canaries ran ({len(failed)} "
                                                f"failed or errored: {', '.join(failed[:3])})", **base)
        if canary_info["problem"]:
            return forged(canary_info["problem"])
        if exit_code == 0:
            return forged("the test run exited 0 although its must-fail canary failed (exit status forced)")
        if canary_info["broken"]:
            return Verdict(passed=False, reason=canary_info["broken"], **base)
    if report.runner_exit is not None and exit_code is not None and report.runner_exit != exit_code and exit_code == 0:
        return forged(f"the test runner ended with status {report.runner_exit} but the process exited 0")
    if skipped:
        return forged(f"{len(skipped)} expected test(s) skipped at run time: {', '.join(skipped[:3])}")
    if missing and not failed:
        return forged(f"{len(missing)} expected test(s) did not run while nothing failed: {', '.join(missing[:3])}")
    if not want:
        return Verdict(passed=False, reason="no test ran", **base)
    if missing or len(passed) < len(want):
        lost = len(want) - len(passed)
        return Verdict(passed=False, reason=f"{lost} of {len(want)} expected tests did not pass", **base)
    if not canaries.placed and exit_code != 0:
        return Verdict(passed=False, reason=f"every expected test passed but the run exited {exit_code}", **base)
    return Verdict(passed=True, reason=f"all {len(want)} expected tests passed", **base)


def _output_disagrees(channel: str, counts, report: TestReport, passed_count: int,
                      contradicted: Sequence[str]) -> Optional[str]:
    """How the runner's own output contradicts the report (it was rewritten after the fact), or None."""
    if counts is None and channel in SUMMARISED and report.complete and passed_count:
        return "the runner's summary is missing from its output (its output was taken away)"
    if counts is not None and channel in COUNTED and counts[0] < passed_count:
        return f"the runner's summary counts {counts[0]} passed, the report {passed_count}"
    if contradicted:
        return (f"the runner's output lists {len(contradicted)} test(s) as failed that the report says passed: "
                f"{', '.join(sorted(contradicted)[:3])}")
    return None


def _canary_info(canaries: Canaries, seen: Mapping[str, list]) -> dict:
    if not canaries.placed:
        return {"placed": False, "why": canaries.why_not, "problem": None}
    problem = broken = None
    missing_only = True  # every problem is a canary missing from the report (none skipped or lying)
    for name in canaries.names:
        if seen.get(name):
            missing_only = missing_only and not any(o in NOT_RUN for o in seen[name]) and not (
                name in canaries.fail_names and any(o == PASSED for o in seen[name]))
    for name in canaries.pass_names:
        if not seen.get(name):
            problem = problem or f"canary {name} is missing from the report"
        elif any(o in NOT_RUN for o in seen[name]):
            problem = problem or f"canary {name} was skipped at run time"
        elif any(o != PASSED for o in seen[name]):
            broken = broken or f"must-pass canary {name} did not pass: the test run itself is broken"
    for name in canaries.fail_names:
        if not seen.get(name):
            problem = problem or f"canary {name} is missing from the report"
        elif any(o == PASSED for o in seen[name]):
            problem = problem or f"must-fail canary {name} was reported passed"
        elif any(o in NOT_RUN for o in seen[name]):
            problem = problem or f"canary {name} was skipped at run time"
    return {"placed": True, "files": list(canaries.files), "outcome": "ok" if problem is None else "forged",
            "problem": problem, "broken": broken, "missing_only": missing_only}


def _plain_failure(exit_code: Optional[int], timed_out: bool, counts) -> str:
    if timed_out:
        return "the test run timed out"
    if counts is None:
        return f"exit {exit_code}; no test summary found"
    if counts[0] == 0 and counts[1] == 0:
        return "no test ran"
    return f"exit {exit_code}; {counts[0]} passed, {counts[1]} failed"


def reported_passing(report: TestReport, canaries: Canaries) -> list[str]:
    """The non-canary tests a report says passed (a reference run's expected identities)."""
    names = canaries.names
    return sorted(t for t, o in report.outcomes.items() if o == PASSED and _leaf(t) not in names)


def all_tests(report: TestReport, canaries: Canaries) -> Iterable[str]:
    names = canaries.names
    return [t for t in report.outcomes if _leaf(t) not in names]
