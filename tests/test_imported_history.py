"""Imported repositories carry no future: no ``.git`` in a built workspace, the clone and build kept private."""

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from cab_tasks import _convert, harbor, swebench


@pytest.fixture(autouse=True)
def task_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CAB_CACHE", str(tmp_path / "cache"))


def git(*args, cwd):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def repo_with_a_future(folder: Path) -> str:
    """A git repository at ``folder``: a buggy base commit, then the fix; returns the base sha."""
    folder.mkdir(parents=True)
    (folder / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    git("init", "-q", cwd=folder)
    git("add", "-A", cwd=folder)
    git("commit", "-qm", "base", cwd=folder)
    base = git("rev-parse", "HEAD", cwd=folder)
    (folder / "calc.py").write_text("def add(a, b):\n    return a + b  # FUTURE\n")
    git("commit", "-qam", "fix", cwd=folder)
    git("checkout", "-q", base, cwd=folder)
    return base


def gits(tree: Path) -> list[str]:
    return [p.relative_to(tree).as_posix() for p in tree.rglob(".git")]


def test_a_harbor_task_copying_a_repository_gets_no_git(tmp_path):
    task = tmp_path / "tasks" / "calc"
    repo_with_a_future(task / "environment" / "repo")
    (task / "environment" / "Dockerfile").write_text(textwrap.dedent("""\
        FROM python:3.12-slim
        WORKDIR /app
        COPY repo/ /app/
        COPY repo/.git /app/.git
        COPY repo/.git /app/sub/.git
    """))
    (task / "instruction.md").write_text("Fix add in calc.py.\n")
    (task / "tests").mkdir()
    (task / "tests" / "test.sh").write_text("#!/bin/bash\necho 1 > /logs/verifier/reward.txt\n")
    loaded = harbor.load([tmp_path / "tasks"])
    assert len(loaded) == 1
    workspace = loaded[0].workspace
    assert (workspace / "calc.py").is_file()
    assert gits(workspace) == []
    assert workspace.parent in loaded[0].private_paths  # the whole build is private


def test_a_gitdir_file_pointing_at_a_clone_is_dropped_too(tmp_path):
    tree = tmp_path / "ws"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / ".git").write_text("gitdir: /somewhere/else/.git\n")
    (tree / ".git").mkdir()
    (tree / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tree / "keep.py").write_text("x = 1\n")
    assert sorted(_convert.drop_git(tree)) == [".git", "sub/.git"]
    assert gits(tree) == [] and (tree / "keep.py").is_file()


def test_a_swebench_task_keeps_its_clone_and_build_private(tmp_path):
    root = tmp_path / "swe"
    clone = root / "repos" / "acme__calc"
    base = repo_with_a_future(clone)
    test_patch = ("diff --git a/test_calc.py b/test_calc.py\nnew file mode 100644\n--- /dev/null\n+++ b/test_calc.py\n"
                  "@@ -0,0 +1,2 @@\n+from calc import add\n+def test_add(): assert add(2, 3) == 5\n")
    instance = {"instance_id": "acme__calc-1", "repo": "acme/calc", "base_commit": base, "problem_statement": "fix add",
                "patch": git("diff", base, "HEAD@{1}", cwd=clone) + "\n", "test_patch": test_patch,
                "FAIL_TO_PASS": ["test_calc.py::test_add"], "PASS_TO_PASS": []}
    (root / "instances.jsonl").write_text(json.dumps(instance) + "\n")
    [task] = swebench.load([root])
    assert gits(task.workspace) == []
    assert "FUTURE" not in (task.workspace / "calc.py").read_text()
    assert clone.resolve() in task.private_paths and task.workspace.parent in task.private_paths
    assert not (task.workspace.parent / "test.patch").exists()  # applied into hidden_tests; no copy lies about


def test_the_runner_hides_every_tasks_private_paths(tmp_path):
    from cab_core.models import Task
    from cab_core.runner import RunOptions, Runner

    ws = tmp_path / "ws"
    ws.mkdir()
    mine = Task(id="a/one", prompt="p", language="python", test_command="true", workspace=ws,
                private_paths=[tmp_path / "clone-one"])
    other = Task(id="a/two", prompt="p", language="python", test_command="true", workspace=ws,
                 private_paths=[tmp_path / "clone-two"])

    class Catalog:  # as TaskCatalog: ``tasks`` is a property
        tasks = {t.id: t for t in (mine, other)}

    runner = Runner(registry=None, catalog=Catalog())
    hidden = runner._hidden_paths(mine, RunOptions(adapter="command", model="noop", task="a/one", results=tmp_path / "r"))
    assert (tmp_path / "clone-one").resolve() in hidden and (tmp_path / "clone-two").resolve() in hidden


def test_the_runner_hides_other_builtin_tasks_with_the_real_catalog(tmp_path):
    from cab_core.plugins import get_plugin_manager
    from cab_core.registry import Registry
    from cab_core.runner import RunOptions, Runner
    from cab_core.tasks import TaskCatalog

    registry = Registry(get_plugin_manager())
    catalog = TaskCatalog(registry)
    runner = Runner(registry, catalog)
    mine, other = catalog.get("polyglot/python-slugify"), catalog.get("polyglot/rust-ring-buffer")
    hidden = runner._hidden_paths(mine, RunOptions(adapter="command", model="noop", task=mine.id, results=tmp_path / "r"))
    assert any(p == other.source_path.resolve() or p in other.source_path.resolve().parents for p in hidden)
