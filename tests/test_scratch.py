"""Scratch folders a killed harness leaves are removed by the next one (cab_core.workspace.scratch).

A harness killed with SIGKILL runs no exit handler: its cell roots and templates stay in
the temporary folder.  Each is locked by its maker while it exists; the next harness's
first cell removes those whose lock it can take, and nothing else: not a live harness's
(its lock holds, whatever its pid says), not a folder it cannot tell is cab's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cab_core.workspace import scratch

from conftest import CAB, run_cab_process

MAKER = """
import sys, time
from pathlib import Path
from cab_core.workspace import scratch
root = scratch.make(sys.argv[2], dir=Path(sys.argv[1]))
(root / "work" / "deep").mkdir(parents=True)
(root / "work" / "deep" / "file.txt").write_text("a copy of the task")
(root / "work" / "deep").chmod(0o500)  # as an agent may leave it
print(root, flush=True)
time.sleep(120)
"""


def _maker(parent: Path, prefix: str = "cab-cell-"):
    proc = subprocess.Popen([sys.executable, "-c", MAKER, str(parent), prefix], stdout=subprocess.PIPE, text=True)
    return proc, Path(proc.stdout.readline().strip())


def test_what_a_killed_harness_left_is_removed_and_nothing_else(tmp_path):
    dead, dead_root = _maker(tmp_path)
    dead_templates, templates_root = _maker(tmp_path, "cab-templates-")
    trashed, trashed_root = _maker(tmp_path)
    live, live_root = _maker(tmp_path)
    for proc in (dead, dead_templates, trashed):
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    in_trash = trashed_root.with_name(scratch.TRASH + trashed_root.name)  # killed while its folder was in the trash
    trashed_root.rename(in_trash)
    unknown = tmp_path / "cab-cell-madebyanoldercab"  # no lock file: cannot tell, left alone
    unknown.mkdir()
    other = tmp_path / "someone-elses"
    other.mkdir()
    try:
        removed = scratch.sweep(tmp_path)
        assert sorted(removed) == sorted([dead_root, templates_root, in_trash])
        assert not dead_root.exists() and not templates_root.exists() and not in_trash.exists()
        assert live_root.is_dir() and unknown.is_dir() and other.is_dir()
        assert scratch.sweep(tmp_path) == []  # the live one's lock holds on
    finally:
        live.kill()
        live.wait()
    assert scratch.sweep(tmp_path) == [live_root]


def test_a_harness_never_sweeps_its_own_folders_and_holds_few_locks(tmp_path):
    own = scratch.make("cab-cell-", dir=tmp_path)
    assert scratch.sweep(tmp_path) == [] and own.is_dir()
    held = len(scratch._held)
    for _ in range(50):  # a long sweep: each cell root removed once recorded
        root = scratch.make("cab-cell-", dir=tmp_path)
        root.rename(tmp_path / (scratch.TRASH + root.name))  # the trash's rename, then its removal
        os.remove(tmp_path / (scratch.TRASH + root.name) / scratch.OWNER)
        (tmp_path / (scratch.TRASH + root.name)).rmdir()
    assert len(scratch._held) <= held + 1  # a lock is let go once its folder is gone
    assert (own / scratch.OWNER).is_file()


@pytest.mark.slow  # two harnesses, one killed
def test_the_next_run_removes_the_cell_root_a_killed_run_left(tmp_path):
    before = set(Path("/tmp").glob("cab-cell-*"))
    proc = subprocess.Popen([CAB, "run", "--adapter", "command", "--model", "custom",
                             "-o", "command=touch started; sleep 60", "--task", "polyglot/python-slugify",
                             "--results", str(tmp_path / "r")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        left = []
        while not left and time.monotonic() < deadline:
            left = [p for p in set(Path("/tmp").glob("cab-cell-*")) - before if (p / "work" / "started").exists()]
            time.sleep(0.05)
        assert left, "the agent never started"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    root = left[0]
    assert root.is_dir()  # nothing ran at its exit
    res = run_cab_process("run", "--adapter", "command", "--model", "custom", "-o", "command=true", "--task",
                  "polyglot/python-slugify", "--results", tmp_path / "r2")
    assert res.returncode in (0, 1), res.stderr[-2000:]
    assert not root.exists()


def test_a_link_or_a_file_named_like_a_scratch_folder_is_left_alone(tmp_path):
    # (anything in a shared temporary folder may be planted: a sweep removes only real folders)
    target = tmp_path / "precious"
    target.mkdir()
    (target / scratch.OWNER).write_text("")
    (tmp_path / "cab-cell-link").symlink_to(target)
    (tmp_path / "cab-cell-file").write_text("")
    assert scratch.sweep(tmp_path) == []
    assert (target / scratch.OWNER).exists() and (tmp_path / "cab-cell-file").exists()
