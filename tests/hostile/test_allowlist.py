"""Reaching host files the sandbox does not list: HOME, the harness, other tasks, caches, /proc, symlinks.

The local sandbox's root is an allow-list (:mod:`cab_core.sandbox.mounts`): each test
plants a unique secret where an answer-hunting agent would look, runs a cell whose
agent tries every way to it (and copies whatever it finds into the work directory, so a
leak would land in the diff), and checks the secret is in no artefact of the cell.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cab_core.sandbox import mounts as allow
from cab_core.testing import write_task

from .conftest import FIXED, assert_contained, needs_bwrap, passed

pytestmark = needs_bwrap


def leaked(folder: Path, secret: str) -> bool:
    texts = [(folder / n).read_text(errors="replace") for n in ("agent_output.txt", "diff.patch", "test_output.txt")
             if (folder / n).exists()]
    return any(secret in text for text in texts)


def grab(*paths) -> str:
    """A shell line that reads each path every way it can and copies it into the work directory."""
    parts = []
    for n, path in enumerate(paths):
        parts += [f"cat {path}", f"cp -r {path} ./grab-{n} 2>/dev/null", f"ls -la {path}"]
    return "; ".join(parts) + "; echo finished"


@pytest.fixture
def secret():
    return f"PLANTED-{os.getpid()}-{os.urandom(4).hex()}"


@pytest.fixture
def plant(secret):
    """``plant(folder)`` writes ``notes.txt`` holding the secret into ``folder`` (created); removed afterwards."""
    made = []

    def put(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        made.append(folder)
        path = folder / "notes.txt"
        path.write_text(f"{secret}\n")
        return path

    yield put
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_file_planted_in_home_is_unreachable(hostile, plant, secret):
    notes = plant(Path.home() / f"private-cab-{os.getpid()}")
    cmd = grab(notes, notes.parent) + f"; find / -name notes.txt -not -path '/proc/*' 2>/dev/null | xargs cat"
    result, folder = hostile(cmd)
    assert_contained(result, folder)
    assert "finished" in (folder / "agent_output.txt").read_text()
    assert not leaked(folder, secret)


def test_the_harness_checkout_and_its_git_are_unreachable(hostile, plant, secret):
    root = allow.harness_root()
    if root is None:
        pytest.skip("cab is installed as a package here")
    notes = plant(root / f".cab-planted-{os.getpid()}")
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    cmd = grab(notes, root / "pyproject.toml", root / ".git") + f"; git -C {root} log -3 --format=%H; ls -A {root}"
    result, folder = hostile(cmd)
    assert_contained(result, folder)
    assert not leaked(folder, secret)
    assert not (head and leaked(folder, head))
    assert not leaked(folder, "[project]")


def test_another_tasks_solution_is_unreachable(hostile, runner):
    other = runner.catalog.get("polyglot/python-slugify")
    answer = next(t for t in sorted(other.solution_dir.rglob("*.py")))
    line = next(l for l in answer.read_text().splitlines() if len(l.strip()) > 20)
    cmd = grab(other.solution_dir, other.source_path) + (
        "; find / -path '*python-slugify*' -not -path '/proc/*' 2>/dev/null | head; "
        "python3 -c 'import cab_tasks, os; print(os.listdir(os.path.dirname(cab_tasks.__file__)))'")
    result, folder = hostile(cmd)
    assert_contained(result, folder)
    assert not leaked(folder, line.strip())
    assert "suite" not in (folder / "agent_output.txt").read_text().split()


def test_the_interop_cache_is_unreachable(hostile, plant, secret):
    notes = plant(Path.home() / ".cache" / "cab" / "tasks" / f"planted-{os.getpid()}")
    cmd = grab(notes, notes.parent.parent) + "; ls -A ~/.cache/cab /root/.cache/cab"
    result, folder = hostile(cmd)
    assert_contained(result, folder)
    assert not leaked(folder, secret)


def test_a_symlink_to_a_host_file_leads_nowhere(hostile, runner, plant, secret, tmp_path):
    notes = plant(Path.home() / f"private-cab-link-{os.getpid()}")
    # One in the task's own starting files, one the agent makes.
    task = write_task(tmp_path / "linked", "demo/linked")
    (task / "workspace" / "notes.txt").symlink_to(notes)
    runner.catalog.tasks_dirs.append(tmp_path / "linked")
    runner.catalog._tasks = None
    cmd = f"cat notes.txt; cp -L notes.txt copy.txt; ln -s {notes} mine; cat mine; cp -L mine mine-copy; echo finished"
    result, folder = hostile(cmd, task="demo/linked")
    assert_contained(result, folder)
    assert "finished" in (folder / "agent_output.txt").read_text()
    assert not leaked(folder, secret)


def test_proc_leads_back_to_nothing_of_the_host(hostile, plant, secret):
    notes = plant(Path.home() / f"private-cab-proc-{os.getpid()}")
    rel = str(notes).lstrip("/")
    cmd = (f"cat /proc/1/root/{rel} /proc/self/root/{rel}; "
           f"for p in /proc/[0-9]*; do cat $p/root/{rel} $p/cwd/../../../{rel}; done 2>/dev/null; "
           "ls /proc | head -50; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo finished")
    result, folder = hostile(cmd)
    assert_contained(result, folder)
    out = (folder / "agent_output.txt").read_text()
    assert "finished" in out
    assert not leaked(folder, secret)
    assert "pytest" not in out  # the harness's own processes are not in the sandbox's /proc


# --------------------------------------------------------------------------- imported repositories


def _git(*args, cwd):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def swebench_task(runner, tmp_path, monkeypatch):
    """A SWE-bench-style instance whose host clone holds the fix in a later commit; returns (clone, fix sha)."""
    import json

    monkeypatch.setenv("CAB_CACHE", str(tmp_path / "interop-cache"))
    root = Path(os.environ.get("CAB_TEST_OUTSIDE_TMP", "/var/tmp")) / f"cab-swe-{os.getpid()}-{os.urandom(3).hex()}"
    clone = root / "repos" / "acme__calc"
    clone.mkdir(parents=True)
    (clone / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    _git("init", "-q", cwd=clone)
    _git("add", "-A", cwd=clone)
    _git("commit", "-qm", "base", cwd=clone)
    base = _git("rev-parse", "HEAD", cwd=clone)
    (clone / "calc.py").write_text("def add(a, b):\n    return a + b  # THE-FUTURE-FIX\n")
    _git("commit", "-qam", "fix", cwd=clone)
    fix = _git("rev-parse", "HEAD", cwd=clone)
    gold = _git("diff", base, fix, cwd=clone) + "\n"
    test_patch = ("diff --git a/test_calc.py b/test_calc.py\nnew file mode 100644\n--- /dev/null\n+++ b/test_calc.py\n"
                  "@@ -0,0 +1,5 @@\n+from calc import add\n+\n+\n+def test_add():\n+    assert add(2, 3) == 5\n")
    instance = {"instance_id": "acme__calc-1", "repo": "acme/calc", "base_commit": base, "problem_statement": "add is wrong",
                "patch": gold, "test_patch": test_patch, "FAIL_TO_PASS": ["test_calc.py::test_add"], "PASS_TO_PASS": []}
    (root / "instances.jsonl").write_text(json.dumps(instance) + "\n")
    runner.catalog.tasks_dirs.append(root)
    runner.catalog._tasks = None
    yield clone, fix
    shutil.rmtree(root, ignore_errors=True)


def test_a_host_clone_holding_the_fix_is_unreachable(hostile, swebench_task, tmp_path):
    clone, fix = swebench_task
    cache = tmp_path / "interop-cache"
    cmd = (f"git -C {clone} show {fix}:calc.py > calc.py; git -C {clone} log --all -p | head -40; "
           f"git cat-file -p {fix}; git log --all --format='%H %s'; git rev-list --all | wc -l; "
           f"cat {cache}/tasks/swebench/*/solution.patch; find / -name '*.patch' -not -path '/proc/*' 2>/dev/null | head; "
           f"ls -A {clone}; echo finished")
    result, folder = hostile(cmd, task="swebench/acme__calc-1")
    assert_contained(result, folder)
    out = (folder / "agent_output.txt").read_text()
    assert "finished" in out
    assert not leaked(folder, "THE-FUTURE-FIX") and not leaked(folder, f"{fix} fix")  # (errors name the sha)
    assert passed(result) == 0
    # The work directory's own repository holds the base commit's files and nothing after it.
    assert "cab baseline" in out and out.count("cab baseline") == 1


def test_the_swebench_oracle_still_passes_in_the_sandbox(runner, swebench_task, tmp_path):
    from cab_core.runner import RunOptions

    result, _ = runner.run_cell(RunOptions(adapter="command", model="oracle", task="swebench/acme__calc-1",
                                           results=tmp_path / "r"))
    assert result.status == "ok", result.error
    assert passed(result) == 1


def test_a_fixed_cell_still_passes_and_lists_its_mounts(hostile):
    result, folder = hostile(FIXED)
    assert passed(result) == 1
    paths = {str(m.path) for m in result.mounts}
    assert str(Path.home()) not in paths and "/" not in paths
    assert all(m.why for m in result.mounts)


def test_every_builtin_oracle_still_passes_on_the_allow_list(runner, tmp_path):
    # The allow-list must show every toolchain the built-in suite needs (Python, Rust, C, JavaScript).
    from cab_core.runner import RunOptions

    builtin = sorted(t.id for t in runner.catalog.tasks.values() if t.format == "native" and "suite" in t.source_path.parts)
    assert len(builtin) >= 20
    failed = {}
    for task_id in builtin:
        result, folder = runner.run_cell(RunOptions(adapter="command", model="oracle", task=task_id,
                                                    results=tmp_path / "oracles"))
        if result.status != "ok" or passed(result) != 1:
            failed[task_id] = result.error or (folder / "test_output.txt").read_text()[-500:]
    assert failed == {}
