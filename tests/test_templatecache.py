"""The template's .git kept between processes (cab_core.workspace.templatecache): used only for the
very same starting files, whole or not at all, and the work tree it gives is the one git would build."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cab_core.models import Task
from cab_core.workspace import template, templatecache
from cab_core.workspace.snapshot import IGNORED


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CAB_TEMPLATE_CACHE", raising=False)
    template._BUILT.clear()
    yield tmp_path / "cache" / "templates"
    template._BUILT.clear()


def _task(tmp_path: Path, files: dict, task_id: str = "demo/add") -> Task:
    ws = tmp_path / task_id / "workspace"
    for rel, text in files.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    return Task(id=task_id, prompt="p", language="python", workspace=ws, test_command="true")


def _git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True).stdout.strip()


def _no_git(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("git ran")

    monkeypatch.setattr(template, "git", fail)


def test_a_second_process_gets_the_same_commit_without_running_git(tmp_path, cache, monkeypatch):
    task = _task(tmp_path, {"calc.py": "x = 1\n", "tests/test_calc.py": "def test(): pass\n"})
    first = template.template(task)
    commit = _git("rev-parse", "HEAD", cwd=first)
    assert len(list(cache.iterdir())) == 1
    template._BUILT.clear()  # as a new process
    _no_git(monkeypatch)
    second = template.template(task)
    assert second != first and _git("rev-parse", "HEAD", cwd=second) == commit
    assert _git("status", "--porcelain", cwd=second) == ""  # committed, nothing pending
    assert sorted(_git("ls-files", cwd=second).splitlines()) == ["calc.py", "tests/test_calc.py"]


@pytest.mark.parametrize("change", ["content", "mode", "new file", "task id"])
def test_any_change_to_what_is_committed_is_another_entry(tmp_path, cache, monkeypatch, change):
    task = _task(tmp_path, {"calc.py": "x = 1\n"})
    template.template(task)
    template._BUILT.clear()
    ws = task.workspace
    if change == "content":
        (ws / "calc.py").write_text("x = 2\n")
    elif change == "mode":
        (ws / "calc.py").chmod(0o755)
    elif change == "new file":
        (ws / "other.py").write_text("")
    else:
        task = Task(id="demo/other", prompt="p", language="python", workspace=ws, test_command="true")
    _no_git(monkeypatch)
    with pytest.raises(AssertionError, match="git ran"):
        template.template(task)


def test_an_incomplete_entry_is_not_used(tmp_path, cache):
    task = _task(tmp_path, {"calc.py": "x = 1\n"})
    built = template.template(task)
    commit = _git("rev-parse", "HEAD", cwd=built)
    (next(cache.iterdir()) / "index").unlink()
    template._BUILT.clear()
    again = template.template(task)  # built by git, as before
    assert _git("rev-parse", "HEAD", cwd=again) == commit and (again / ".git" / "index").is_file()


def test_a_task_with_its_own_repository_or_too_large_is_not_kept(tmp_path, cache, monkeypatch):
    own = _task(tmp_path, {"calc.py": "x = 1\n", ".git/HEAD": "ref: refs/heads/x\n"})
    assert templatecache.key_of(own.workspace, message="m", ignored=IGNORED) is None
    monkeypatch.setattr(templatecache, "MAX_BYTES", 10)
    big = _task(tmp_path, {"big.txt": "x" * 100}, "demo/big")
    assert templatecache.key_of(big.workspace, message="m", ignored=IGNORED) is None


def test_it_can_be_turned_off(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("CAB_TEMPLATE_CACHE", "0")
    template.template(_task(tmp_path, {"calc.py": "x = 1\n"}))
    assert not cache.exists() or not list(cache.iterdir())


def test_only_the_last_used_entries_are_kept(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(templatecache, "KEEP", 2)
    for i in range(4):
        template.template(_task(tmp_path, {"calc.py": f"x = {i}\n"}, f"demo/t{i}"))
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 2


def test_released_templates_are_removed_beside_the_caller_and_a_later_cell_builds_again(tmp_path, cache):
    """A sweep whose cells have ended releases its templates (removed on a thread, not at the exit)."""
    task = _task(tmp_path, {"calc.py": "x = 1\n"})
    first = template.template(task)
    template.copy_ahead(task)  # a copy for a next cell that never comes: finished before its folder goes
    root = first.parent
    thread = template.release()
    assert thread is not None and thread.name == "cab-templates-release"
    thread.join(10)
    assert not root.exists() and template._AHEAD == {} and template._STORES == {}
    again = template.template(task)
    assert again.is_dir() and again.parent != root and _git("rev-parse", "HEAD", cwd=again)
    template.release().join(10)
    assert template.release() is None  # nothing built since


def test_a_cell_placed_from_the_copy_made_ahead_leaves_its_emptied_folder_to_the_background(tmp_path, cache,
                                                                                              monkeypatch):
    """The emptied folder of the copy made ahead is removed by the trash (beside a command), not in the cell's
    start: an rmdir there took 0.2-7 ms of the next cell's time (issue 16)."""
    from cab_core.workspace import trash

    task = _task(tmp_path, {"calc.py": "x = 1\n", "tests/test_calc.py": "def test_x():\n    pass\n"})
    template.template(task)
    template.copy_ahead(task)
    handed, real = [], trash.later
    monkeypatch.setattr(trash, "later", lambda path, remove: (handed.append(Path(path)), real(path, remove)))
    work = tmp_path / "cell" / "work"
    work.mkdir(parents=True)
    baseline, snap = template.place(task, work)
    assert (work / "calc.py").read_text() == "x = 1\n" and baseline == _git("rev-parse", "HEAD", cwd=work)
    assert len(handed) == 1 and handed[0].name.startswith("ahead-") and not list(handed[0].rglob("*.py"))
    trash.drain()  # (it waits for whatever is handed to the trash)
    assert not handed[0].exists()
    template.release().join(10)
