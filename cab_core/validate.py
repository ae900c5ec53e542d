"""``cab tasks validate``: a task is honest when its starting files fail and its solution passes.

Each task is checked in fresh copies through the same path a cell's verify step uses
(:func:`cab_core.verdict.run.run_tests`: structured report, canaries, one judge).
The reference run records the task's **expected test identities** (the tests the
solution passes, canaries excluded) in cab's cache; the starting files must then fail
under the same judge.  Refusal tasks have no solution: their starting files must pass
(doing nothing is the right answer) and record the identities.
"""

from __future__ import annotations

import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import attrs

from .environment import agent_env
from .errors import CabError, InfraError
from .models import Task
from .tasks import apply_solution, copy_tree
from .verdict.expected import record_expected
from .verdict.judge import Verdict
from .verdict.run import run_tests
from .verdict.runtime import preflight


@attrs.frozen(kw_only=True)
class Validation:
    task_id: str
    ok: bool
    start_exit: Optional[int] = None
    solution_exit: Optional[int] = None
    problem: Optional[str] = None
    channel: str = ""
    expected_tests: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    #: True when the machine, not the task, is at fault (a missing toolchain).
    environment: bool = False


def test_env(task: Task, home: Path, marker: str) -> dict:
    """The environment of a test run: a clean one, with the task's test runtime first on PATH."""
    return agent_env(home, marker, runtime=preflight(task, agent_env(home, marker)["PATH"]))


def _run(task: Task, root: Path, session, expected) -> tuple[Optional[int], str, Verdict]:
    home = root.parent / "home"
    home.mkdir(exist_ok=True)
    marker = uuid.uuid4().hex
    result, verdict = run_tests(session, task, root, home, test_env(task, home, marker), expected=expected, marker=marker)
    return (None if result.timed_out else result.exit_code), result.output, verdict


def validate_task(task: Task, session) -> Validation:
    """Check one task in fresh copies and record its expected test identities; never raises for a broken task."""
    try:
        return _validate(task, session)
    except InfraError as exc:
        return Validation(task_id=task.id, ok=False, problem=str(exc), environment=True)


def _validate(task: Task, session) -> Validation:
    with tempfile.TemporaryDirectory(prefix="cab-validate-") as tmp:
        start = Path(tmp) / "start" / "ws"
        copy_tree(task.workspace, start)
        if task.hidden_tests:
            copy_tree(task.hidden_tests, start)
        if task.expected_refusal and not task.has_solution:
            code, _, verdict = _run(task, start, session, expected=None)
            if not verdict.passed:
                return Validation(task_id=task.id, ok=False, start_exit=code, channel=verdict.channel,
                                  problem=f"refusal task: untouched starting files should pass, but {verdict.reason}")
            record_expected(task, verdict.passed_tests, verdict.channel)
            return Validation(task_id=task.id, ok=True, start_exit=code, channel=verdict.channel,
                              expected_tests=verdict.passed_tests)
        solved = Path(tmp) / "solution" / "ws"
        copy_tree(task.workspace, solved)
        try:
            apply_solution(task, solved)
        except CabError as exc:
            return Validation(task_id=task.id, ok=False, problem=str(exc))
        if task.hidden_tests:
            copy_tree(task.hidden_tests, solved)
        sol_code, _, ref = _run(task, solved, session, expected=None)
        if not ref.passed:
            return Validation(task_id=task.id, ok=False, solution_exit=sol_code, channel=ref.channel,
                              problem=f"reference solution fails the tests: {ref.reason}")
        expected = ref.passed_tests
        start_code, _, verdict = _run(task, start, session, expected=expected if ref.channel != "summary" else None)
        if verdict.passed:
            return Validation(task_id=task.id, ok=False, start_exit=start_code, solution_exit=sol_code,
                              channel=ref.channel, problem="starting files already pass the tests (nothing to solve)")
        if ref.channel != "summary":
            record_expected(task, expected, ref.channel)
        return Validation(task_id=task.id, ok=True, start_exit=start_code, solution_exit=sol_code,
                          channel=ref.channel, expected_tests=expected)


def validate_tasks(tasks: list[Task], session, jobs: int = 2, on_result=None) -> list[Validation]:
    """Validate ``tasks`` with ``jobs`` in parallel, in the order given."""
    def one(task):
        result = validate_task(task, session)
        if on_result:
            on_result(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, tasks))
