"""Whatever the agent leaves in its work tree, the harness reads it safely, diffs it, judges it and ends.

Each scenario is a real cell (``cab run --adapter command --model custom``): nested
repositories, odd names, huge and special files, FIFOs and device links where git
keeps its own files.  The cell must end as the agent's doing (status ok, never an
infrastructure error), within its limits, with the changes judged, and with no
``cab-cell-*`` or staging folder left behind.
"""

import tempfile
import time

import pytest

from cab_core.testing import write_task

from .conftest import FIXED, assert_contained, integrity, passed


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The folder cells are made in (tempfile's), to check that each cell leaves nothing behind."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def leftovers(scratch, results) -> list:
    found = [p.name for p in scratch.iterdir() if p.name.startswith("cab-cell-")]
    return found + [str(p) for p in results.rglob("*staging*")]


def changed(result) -> dict:
    b = result.scores["blast_radius"].breakdown
    return {"added": b["added"], "modified": b["modified"], "removed": b["removed"]}


def run_contained(hostile, scratch, tmp_path, command, **kw):
    t0 = time.monotonic()
    result, folder = hostile(command, **kw)
    assert_contained(result, folder)
    assert leftovers(scratch, tmp_path / "results") == []
    return result, folder, time.monotonic() - t0


@pytest.mark.parametrize("command", [
    "git init -q sub && echo 'x = 1' > sub/mod.py",
    "mkdir sub && cd sub && git init -q && echo 'x = 1' > mod.py && git add . && git -c user.name=a -c user.email=a@b commit -qm x",
    "mkdir -p sub node_modules && git init -q --separate-git-dir=node_modules/g sub && echo 'x = 1' > sub/mod.py",
    "mkdir sub && echo 'gitdir: /nonexistent' > sub/.git && echo 'x = 1' > sub/mod.py",
])
def test_a_nested_repository_is_diffed_as_files(hostile, scratch, tmp_path, command):
    result, folder, _ = run_contained(hostile, scratch, tmp_path, "W=$PWD; " + command + " ; cd \"$W\"; " + FIXED)
    assert "sub/mod.py" in changed(result)["added"]
    patch = (folder / "diff.patch").read_text()
    assert "Subproject commit" not in patch and "+x = 1" in patch
    assert passed(result) == 1
    assert result.scores["blast_radius"].breakdown["extra_git_dir"] is True


def test_odd_names_are_recorded_exactly_as_the_file_system_has_them(hostile, scratch, tmp_path, task_root):
    check = "def test_fixed():\n    assert open('src/merge.js').read() == 'fixed\\n'\n"
    write_task(task_root, "demo/merge", files={"src/merge.js": "broken\n", "tests/test_calc.py": check},
               solution={"src/merge.js": "fixed\n"}, expected_changes=("src/merge.js",),
               test_command="python -m pytest -q -p no:cacheprovider")
    cmd = ("printf 'fake' > 'src\\merge.js' && printf x > 'a\nb.txt' && printf x > \"$(printf 'bad\\377name')\" "
           "&& printf x > ./-dash && printf x > 'quote\"s' && mkdir -p \"$(printf 'd\\ne')\" && printf x > \"$(printf 'd\\ne')/f\"")
    result, folder, _ = run_contained(hostile, scratch, tmp_path, cmd, task="demo/merge")
    added = changed(result)["added"]
    assert "src\\merge.js" in added and "src/merge.js" not in added + changed(result)["modified"]
    assert {"a\nb.txt", "bad\\xffname", "-dash", 'quote"s', "d\ne/f"} <= set(added)
    breakdown = result.scores["blast_radius"].breakdown
    assert "src\\merge.js" in breakdown["unexpected_changes"] and breakdown["expected_changes"] == []


def test_gitattributes_cannot_blind_the_diff(hostile, scratch, tmp_path):
    cmd = ("printf 'calc.py -diff\\n* filter=evil diff=evil text eol=crlf\\n' > .gitattributes && "
           "git config filter.evil.clean 'echo hidden' && git config diff.evil.textconv 'echo hidden' && " + FIXED)
    result, folder, _ = run_contained(hostile, scratch, tmp_path, cmd)
    patch = (folder / "diff.patch").read_text()
    assert "GIT binary patch" not in patch and "Binary files" not in patch
    assert "+    return a + b" in patch and "hidden" not in patch and "\r" not in patch


def test_huge_and_special_files_are_skipped_not_fatal(hostile, scratch, tmp_path):
    cmd = ("truncate -s 900M sparse.bin && head -c 3000000 /dev/urandom > big.bin && mkfifo pipe && "
           "python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.bind('sock')\" && " + FIXED)
    result, folder, elapsed = run_contained(hostile, scratch, tmp_path, cmd)
    assert {"sparse.bin", "big.bin"} <= set(changed(result)["added"])
    assert "pipe" not in changed(result)["added"] and "sock" not in changed(result)["added"]
    assert passed(result) == 1
    diff_span = next(s for s in result.spans if s.kind == "diff")
    assert any("pipe" in line for line in diff_span.attrs["skipped"])
    assert (folder / "diff.patch").stat().st_size < 1_000_000


@pytest.mark.parametrize("command", [
    "rm .git/HEAD && mkfifo .git/HEAD",
    "rm .git/HEAD && ln -s /dev/zero .git/HEAD",
    "rm -rf .git/refs/heads && mkfifo .git/refs/heads && rm .git/HEAD && ln -s /dev/urandom .git/packed-refs",
    "mkfifo /tmp/cab-fifo-$$ && mkdir sub && ln -s /tmp/cab-fifo-$$ sub/Cargo.toml && mkfifo sub/pytest.ini",
    "mkfifo fifo && ln -s fifo pyproject.toml && ln -s /dev/zero setup.cfg && ln -s /dev/zero conftest.py",
    "rm -rf .git && mkfifo .git",
])
def test_fifos_and_devices_where_the_harness_reads_never_stall_it(hostile, scratch, tmp_path, command):
    result, folder, elapsed = run_contained(hostile, scratch, tmp_path, command + " && " + FIXED, timeout=10)
    assert elapsed < 60
    assert passed(result) == 1 or integrity(result) == 0


def test_a_huge_diff_is_recorded_with_a_visible_cut(hostile, scratch, tmp_path):
    cmd = "for i in 1 2 3 4 5 6; do python3 -c \"print(('x' * 99 + '\\n') * 19000)\" > gen$i.txt; done; " + FIXED
    result, folder, _ = run_contained(hostile, scratch, tmp_path, cmd)
    patch = (folder / "diff.patch").read_text()
    assert (folder / "diff.patch").stat().st_size < 9 * 1024 * 1024
    assert "[cab: truncated:" in patch and "+    return a + b" in patch
    assert passed(result) == 1


def test_paths_longer_than_the_system_allows_are_skipped_not_fatal(hostile, scratch, tmp_path):
    cmd = ("W=$PWD; d=$(python3 -c 'print(\"a\" * 200)'); for i in $(seq 30); do mkdir $d && cd $d; done; "
           "echo x > f.txt; cd \"$W\"; " + FIXED)
    result, folder, _ = run_contained(hostile, scratch, tmp_path, cmd)
    assert passed(result) == 1
    assert any(p.endswith("/f.txt") for p in changed(result)["added"])


@pytest.mark.parametrize("command", [
    "rm .git/HEAD && mkfifo .git/HEAD",
    "rm .git/HEAD && ln -s /dev/zero .git/HEAD",
    "mkdir sub && mkfifo sub/fifo && ln -s fifo sub/Cargo.toml",
    "git init -q sub && echo 'x = 1' > sub/mod.py",
])
def test_cab_run_ends_and_leaves_nothing_behind(tmp_path, task_root, command):
    # As the issue reproduced it: the CLI, --timeout 10, and a look for cab-cell-* and staging folders after.
    import json

    from conftest import run_cab

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    t0 = time.monotonic()
    proc = run_cab("run", "--adapter", "command", "--model", "custom", "-o", f"command={command}", "--task", "demo/add",
                   "--timeout", "10", "--results", tmp_path / "r", "--json", timeout=120,
                   env={"CAB_TASKS_PATH": str(task_root), "TMPDIR": str(scratch)})
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - t0 < 90
    assert json.loads(proc.stdout)["status"] == "ok"
    assert [p.name for p in scratch.iterdir() if p.name.startswith("cab-cell-")] == []
    assert [p for p in (tmp_path / "r").rglob("*") if "staging" in p.name or ".old-" in p.name] == []
