"""How a verdict is reached: structured reports, expected identities, canaries, one judge.

* :mod:`.channels` — how each test runner reports every test's outcome to a file the
  harness names (pytest plugin, node reporter, cargo runner, report lines);
* :mod:`.run` — one test run: canaries placed, the command run, the report read;
* :mod:`.judge` — the one judge: pass, fail or forged, with the reason;
* :mod:`.expected` — the tests the reference solution passes, per task content;
* :mod:`.runtime` — what the tests need from the machine, checked before the agent runs;
* :mod:`.summary` — summary-line counts, a cross-check only.
"""

from .judge import Canaries, Verdict, judge
from .report import TestReport

__all__ = ["Canaries", "TestReport", "Verdict", "judge"]
