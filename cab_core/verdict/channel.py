"""The base of a structured result channel: what each test runner's channel provides.

A channel (:mod:`cab_core.verdict.channels` lists them) arranges, for one test run,
that the runner writes every test's outcome into a folder the harness names, places
the run's canaries in the task's own test files, and reads back which tests the
runner's own output lists as failed, a cross-check no later rewriting of the report
can undo.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Sequence

from .report import FAILURES, PASSED, TestReport, read_capped
from .summary import clean_output

HERE = Path(__file__).resolve().parent


class Channel:
    """The base channel: no structured report (``summary``)."""

    name = "summary"
    structured = False
    signed = False
    #: How a canary name starts when the file has no test names to borrow words from.
    fresh_prefix = "test_"

    def prepare(self, command: str, report_dir: Path, nonce_file: Path, run_id: str) -> tuple[str, dict]:
        """The command to run and the environment to add, for a report into ``report_dir``."""
        return command, {}

    def test_files(self, root: Path, candidates: Sequence[str]) -> list[str]:
        """Which of ``candidates`` (paths below ``root``) are test modules canaries can join."""
        return []

    def canary_source(self, rel: str, text: str, pass_name: str, fail_name: str) -> Optional[str]:
        """``text`` with the two canary tests appended, or None when this file cannot take them."""
        return None

    def test_names(self, text: str) -> list[str]:
        """The names of the tests ``text`` defines (canary names are made to look like them)."""
        return []

    def read(self, report_dir: Path, key: bytes) -> Optional[TestReport]:
        return None

    #: A line of the runner's own output naming a failed test (group 1: the name as the runner prints it).
    failed_line: Optional[re.Pattern] = None

    def listed_failed(self, lines: Sequence[str]) -> list[str]:
        """The tests the runner's output lists as failed, as it names them."""
        if self.failed_line is None:
            return []
        return [m.group(1) for m in map(self.failed_line.match, lines) if m]

    def same_test(self, test_id: str, name: str) -> bool:
        """Whether the report's ``test_id`` is the test the output calls ``name``."""
        return test_id == name

    def contradicted(self, report: TestReport, output: Optional[str]) -> list[str]:
        """Tests the runner's output lists as failed while the report says they passed (and nowhere failed)."""
        if self.failed_line is None or not output:
            return []
        found = set()
        for name in self.listed_failed(clean_output(output).split("\n")):
            kinds = [o for i, o in report.outcomes.items() if self.same_test(i, name)]
            if PASSED in kinds and not any(k in FAILURES for k in kinds):
                found.add(name)
        return sorted(found)


def _mentions(path: Path, needle: bytes) -> bool:
    data = read_capped(path, 1 << 20)
    return data is not None and needle in data


def _numbers(name: str) -> tuple[int, int]:
    seed = int.from_bytes(name.encode()[-6:], "big")
    return 1000 + seed % 9000, 100 + (seed >> 8) % 900
