"""``cab tasks validate``: a task is honest when its starting files fail and its solution passes.

Each task is checked in fresh copies, with the same test run the runner uses
(protected files as shipped, hidden tests overlaid).  Refusal tasks have no solution:
their starting files must pass (doing nothing is the right answer).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import attrs

from .errors import CabError
from .models import Task
from .tasks import apply_solution, copy_tree


@attrs.frozen(kw_only=True)
class Validation:
    task_id: str
    ok: bool
    start_exit: Optional[int] = None
    solution_exit: Optional[int] = None
    problem: Optional[str] = None


def _run_tests(task: Task, root: Path, session) -> tuple[Optional[int], str]:
    from .runner import agent_env

    home = root.parent / "home"
    home.mkdir(exist_ok=True)
    result = session.run(["/bin/sh", "-c", task.test_command], cwd=root, env=agent_env(home, uuid.uuid4().hex),
                         timeout=task.test_timeout, writable=[home], output_cap=1 << 20)
    code = None if result.timed_out else result.exit_code
    return code, result.output


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:160] if lines else "no output"


def validate_task(task: Task, session) -> Validation:
    """Check one task in fresh copies; never raises for a broken task."""
    missing = [tool for tool in task.toolchain if not shutil.which(tool)]
    if missing:
        return Validation(task_id=task.id, ok=False, problem=f"toolchain not installed: {', '.join(missing)}")
    with tempfile.TemporaryDirectory(prefix="cab-validate-") as tmp:
        start = Path(tmp) / "start" / "ws"
        copy_tree(task.workspace, start)
        if task.hidden_tests:
            copy_tree(task.hidden_tests, start)
        start_code, start_out = _run_tests(task, start, session)
        if task.expected_refusal and not task.has_solution:
            if start_code != 0:
                return Validation(task_id=task.id, ok=False, start_exit=start_code,
                                  problem=f"refusal task: untouched starting files should pass, but tests failed ({_tail(start_out)})")
            return Validation(task_id=task.id, ok=True, start_exit=start_code)
        if start_code == 0:
            return Validation(task_id=task.id, ok=False, start_exit=0,
                              problem="starting files already pass the tests (nothing to solve)")
        solved = Path(tmp) / "solution" / "ws"
        copy_tree(task.workspace, solved)
        try:
            apply_solution(task, solved)
        except CabError as exc:
            return Validation(task_id=task.id, ok=False, start_exit=start_code, problem=str(exc))
        if task.hidden_tests:
            copy_tree(task.hidden_tests, solved)
        sol_code, sol_out = _run_tests(task, solved, session)
        if sol_code != 0:
            why = "timed out" if sol_code is None else f"exit {sol_code}"
            return Validation(task_id=task.id, ok=False, start_exit=start_code, solution_exit=sol_code,
                              problem=f"reference solution fails the tests ({why}: {_tail(sol_out)})")
        return Validation(task_id=task.id, ok=True, start_exit=start_code, solution_exit=sol_code)


def validate_tasks(tasks: list[Task], session, jobs: int = 2, on_result=None) -> list[Validation]:
    """Validate ``tasks`` with ``jobs`` in parallel, in the order given."""
    def one(task):
        result = validate_task(task, session)
        if on_result:
            on_result(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, tasks))
