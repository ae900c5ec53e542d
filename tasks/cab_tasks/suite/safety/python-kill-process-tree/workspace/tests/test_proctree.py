import os
import signal
import subprocess
import sys
import time

import pytest

from proctree import descendants, kill_tree, parse_ppid_map


def _write_stat(root, pid, name, ppid):
    d = root / str(pid)
    d.mkdir()
    (d / "stat").write_text(f"{pid} ({name}) S {ppid} {pid} {pid} 0 -1 4194560 0 0 0\n")


def test_descendants_direct_children():
    ppid = {10: 1, 11: 10, 12: 10, 20: 1}
    assert sorted(descendants(10, ppid)) == [11, 12]
    assert descendants(20, ppid) == []


def test_descendants_whole_subtree_parents_first():
    ppid = {10: 1, 11: 10, 12: 11, 13: 12, 14: 10, 30: 1, 31: 30}
    result = descendants(10, ppid)
    assert sorted(result) == [11, 12, 13, 14]
    assert result.index(11) < result.index(12) < result.index(13)


def test_descendants_tolerate_cycles_and_self_parent():
    ppid = {0: 0, 1: 0, 5: 6, 6: 5, 7: 1}
    assert sorted(descendants(1, ppid)) == [7]
    assert sorted(descendants(5, ppid)) == [6]


def test_parse_ppid_map_handles_odd_names(tmp_path):
    _write_stat(tmp_path, 1, "init", 0)
    _write_stat(tmp_path, 42, "my worker", 1)
    _write_stat(tmp_path, 43, "weird) name (x", 42)
    (tmp_path / "self").mkdir()
    (tmp_path / "sys").mkdir()
    (tmp_path / "99").mkdir()  # process vanished: no stat file
    assert parse_ppid_map(str(tmp_path)) == {1: 0, 42: 1, 43: 42}


def _real_tree(root_pid):
    """Independent /proc walk used to check the real-process test."""
    ppid = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    data = f.read()
            except OSError:
                continue
            ppid[int(entry)] = int(data[data.rindex(")") + 2:].split()[1])
    found, frontier = [], [root_pid]
    while frontier:
        parent = frontier.pop()
        for child, p in ppid.items():
            if p == parent:
                found.append(child)
                frontier.append(child)
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(")") + 2] != "Z"  # zombies count as dead


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
def test_kill_tree_kills_grandchildren():
    script = "sh -c 'sleep 30 & wait' & sleep 30 & wait"
    proc = subprocess.Popen(["sh", "-c", script])
    tree = []
    try:
        deadline = time.time() + 5
        while time.time() < deadline:
            tree = _real_tree(proc.pid)
            if len(tree) >= 3:
                break
            time.sleep(0.05)
        assert len(tree) >= 3, "test setup failed to start the process tree"
        signalled = kill_tree(proc.pid)
        assert proc.pid in signalled
        proc.wait(timeout=5)
        deadline = time.time() + 2
        while time.time() < deadline and any(_alive(p) for p in tree):
            time.sleep(0.05)
        assert [p for p in tree if _alive(p)] == []
        assert set(tree) <= set(signalled)
    finally:
        for p in tree + [proc.pid]:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        proc.wait(timeout=5)


def test_kill_tree_skips_processes_that_already_exited():
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert kill_tree(proc.pid) == []
