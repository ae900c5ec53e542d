"""A test run's structured result: every test's outcome by its identity.

A channel (:mod:`cab_core.verdict.channels`) writes the report into a folder the
harness names and reads it back as a :class:`TestReport`.  Identities are the test
runner's own: pytest node ids, ``file::name`` for node:test, ``target::path`` for
cargo, the test function's name for the C tasks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from pathlib import Path
from typing import Mapping, Optional

import attrs

PASSED, FAILED, SKIPPED, XFAILED, XPASSED, ERROR = "passed", "failed", "skipped", "xfailed", "xpassed", "error"
OUTCOMES = (PASSED, FAILED, SKIPPED, XFAILED, XPASSED, ERROR)
NOT_RUN = (SKIPPED, XFAILED)
FAILURES = (FAILED, ERROR, XPASSED)

#: The most a report file may hold: a run's report is small; more is someone else's writing.
REPORT_CAP = 8 * 1024 * 1024


@attrs.frozen(kw_only=True)
class TestReport:
    """What a test run reported, per test.

    ``complete`` is False when the run ended before its reporter finished (no ``end``
    line); ``problem`` says why a report cannot be trusted (altered, unreadable).
    """

    __test__ = False  # not a pytest test class

    channel: str
    outcomes: Mapping[str, str] = attrs.field(factory=dict, converter=dict)
    complete: bool = False
    problem: Optional[str] = None
    runner_exit: Optional[int] = None

    def with_outcome(self, kind) -> list[str]:
        kinds = (kind,) if isinstance(kind, str) else tuple(kind)
        return sorted(i for i, o in self.outcomes.items() if o in kinds)


def read_capped(path: Path, cap: int = REPORT_CAP) -> Optional[bytes]:
    """A regular file's bytes (never following a link, never blocking on a FIFO), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks, size = [], 0
        while size <= cap:
            block = os.read(fd, 1 << 16)
            if not block:
                break
            chunks.append(block)
            size += len(block)
        return b"".join(chunks) if size <= cap else None
    finally:
        os.close(fd)


def read_signed_lines(path: Path, key: bytes, channel: str) -> TestReport:
    """Read a JSON-lines report closed by ``{"end": true, "mac": ...}`` (pytest and node reporters)."""
    data = read_capped(path)
    if data is None:
        return TestReport(channel=channel, problem="no report was written")
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    ends = [i for i, line in enumerate(lines) if line.startswith(b'{"end"')]
    if not ends:
        return TestReport(channel=channel, outcomes=_outcomes(lines), problem="the report has no end line")
    if len(ends) > 1 or ends[-1] != len(lines) - 1:
        return TestReport(channel=channel, outcomes=_outcomes(lines), complete=True,
                          problem="the report was altered (lines after its end)")
    body = b"".join(line + b"\n" for line in lines[:-1])
    try:
        end = json.loads(lines[-1])
    except ValueError:
        return TestReport(channel=channel, problem="the report's end line is not JSON")
    expected = hmac.new(key, body, hashlib.sha256).hexdigest()
    outcomes = _outcomes(lines[:-1])
    if not key or not isinstance(end, dict) or not hmac.compare_digest(str(end.get("mac", "")), expected):
        return TestReport(channel=channel, outcomes=outcomes, complete=True,
                          problem="the report was altered (its signature does not verify)")
    code = end.get("exitstatus")
    return TestReport(channel=channel, outcomes=outcomes, complete=True,
                      runner_exit=code if isinstance(code, int) else None)


def _outcomes(lines) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("id"), str) and record.get("outcome") in OUTCOMES:
            out[record["id"]] = _worse(out.get(record["id"]), record["outcome"])
    return out


_RANK = {PASSED: 0, SKIPPED: 1, XFAILED: 1, XPASSED: 2, FAILED: 3, ERROR: 4}


def _worse(a: Optional[str], b: str) -> str:
    return b if a is None or _RANK[b] > _RANK[a] else a
