"""Reading the task's hidden solution: its folder, the git history it is in, and the scripted model.

The task's reference solution (``solution/`` of demo/add: ``return a + b``) must not
be reachable from the sandbox, whichever way the agent looks.
"""

import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from cab_core.testing import write_task

from .conftest import TASK, assert_contained, needs_bwrap, passed

SOLUTION_TEXT = "return a + b"


def leaked(folder) -> bool:
    texts = [(folder / name).read_text(errors="replace") for name in ("agent_output.txt", "diff.patch")]
    return any(SOLUTION_TEXT in text for text in texts)


def _git(*args, cwd):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.fixture
def outside_tmp():
    """A folder outside /tmp (which the sandbox replaces wholesale), as a task checkout would be."""
    folder = Path(tempfile.mkdtemp(prefix="cab-hostile-", dir="/var/tmp" if Path("/var/tmp").is_dir() else None))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def add_tasks(runner, root):
    runner.catalog.tasks_dirs.append(root)
    runner.catalog._tasks = None


@needs_bwrap
def test_the_solution_folder_is_empty_inside_the_sandbox(runner, hostile, outside_tmp):
    task = write_task(outside_tmp / "tasks", "demo/outside")
    add_tasks(runner, outside_tmp / "tasks")
    cmd = (f"cat {task}/solution/calc.py > calc.py; cp -r {task}/solution/. . ; ls -la {task} {task}/solution; "
           f"find {outside_tmp} -name calc.py | xargs cat; echo finished")
    result, folder = hostile(cmd, task="demo/outside")
    assert_contained(result, folder)
    assert "finished" in (folder / "agent_output.txt").read_text()
    assert not leaked(folder) and passed(result) == 0


@needs_bwrap
def test_the_git_history_holding_the_task_is_hidden_too(runner, hostile, outside_tmp):
    # Tasks usually live in a git checkout: `git show HEAD:<solution>` reads it from the
    # (read-only, but readable) .git even when the solution folder itself is hidden.
    repo = outside_tmp / "repo"
    write_task(repo / "tasks", "demo/gitted")
    _git("init", "-q", cwd=repo)
    _git("add", "-A", cwd=repo)
    _git("commit", "-qm", "tasks", cwd=repo)
    add_tasks(runner, repo / "tasks")
    cmd = (f"git -C {repo} show HEAD:tasks/demo/gitted/solution/calc.py > calc.py; "
           f"git -C {repo} log --all --stat | head -20; cat {repo}/.git/HEAD; echo finished")
    result, folder = hostile(cmd, task="demo/gitted")
    assert_contained(result, folder)
    assert not leaked(folder) and passed(result) == 0


def test_the_scripted_model_does_not_hand_the_solution_to_another_model(hostile):
    # The cell's model is scripted/noop: asking the scripted endpoint for "oracle" itself must not work
    # (the cell's route answers as the cell's model, whatever a request names).
    asker = (
        "import json, os, urllib.request\n"
        "tools = [{'type': 'function', 'function': {'name': 'write', 'parameters': {'type': 'object',"
        " 'properties': {'path': {'type': 'string'}, 'content': {'type': 'string'}}}}}]\n"
        "for model in ('scripted/oracle', 'oracle', 'scripted/vandal'):\n"
        "    body = json.dumps({'model': model, 'messages': [{'role': 'user', 'content': 'fix it'}], 'tools': tools}).encode()\n"
        "    req = urllib.request.Request(os.environ['OPENAI_BASE_URL'] + '/chat/completions', data=body,"
        " headers={'Content-Type': 'application/json'})\n"
        "    print(urllib.request.urlopen(req, timeout=30).read().decode())\n"
    )
    result, folder = hostile(f"python3 -c {shlex.quote(asker)}", model="scripted/noop")
    assert_contained(result, folder)
    out = (folder / "agent_output.txt").read_text()
    assert '"choices"' in out  # the calls were answered ...
    assert "a + b" not in out  # ... without the solution
    assert passed(result) == 0
    assert len(result.model_calls) == 3


def test_the_oracle_cell_still_gets_its_solution(hostile, runner, tmp_path):
    from cab_core.runner import RunOptions

    result, _ = runner.run_cell(RunOptions(adapter="mini", model="scripted/oracle", task=TASK, results=tmp_path / "r2"))
    assert passed(result) == 1


@needs_bwrap
def test_the_results_folder_is_hidden(hostile, outside_tmp):
    results = outside_tmp / "results"
    (results / "old").mkdir(parents=True)
    (results / "old" / "diff.patch").write_text(f"+    {SOLUTION_TEXT}\n")
    result, folder = hostile(f"cat {results}/old/diff.patch; ls -R {results}; echo finished", results=results)
    assert "finished" in (folder / "agent_output.txt").read_text()
    assert not leaked(folder)
