import os
import signal
import subprocess
import sys
import time

import pytest

from proctree import descendants, kill_tree, parse_ppid_map


def _stat_k6xbvw(root, pid, text):
    folder = root / str(pid)
    folder.mkdir()
    (folder / "stat").write_text(text)


def test_k6xbvw_parse_names_with_digits_and_parens(tmp_path):
    _stat_k6xbvw(tmp_path, 7, "7 (x) 9 (y) S 3 7 7 0 -1 0\n")
    _stat_k6xbvw(tmp_path, 8, "8 ((sd-pam)) S 7 8 8 0 -1 0\n")
    _stat_k6xbvw(tmp_path, 9, "")  # exited while being read
    (tmp_path / "net").mkdir()
    (tmp_path / "uptime").write_text("1.0 2.0\n")
    assert parse_ppid_map(str(tmp_path)) == {7: 3, 8: 7}


def test_k6xbvw_descendants_of_a_deep_and_wide_tree():
    ppid = {2: 1, 3: 2, 4: 3, 5: 2, 6: 5, 9: 8, 10: 4}
    result = descendants(2, ppid)
    assert sorted(result) == [3, 4, 5, 6, 10]
    for child, parent in ppid.items():
        if child in result and parent in result:
            assert result.index(parent) < result.index(child)
    assert descendants(10, ppid) == []


def _tree_k6xbvw(root_pid):
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    data = f.read()
            except OSError:
                continue
            parents[int(entry)] = int(data[data.rindex(")") + 2:].split()[1])
    found, frontier = [], [root_pid]
    while frontier:
        parent = frontier.pop()
        for child, p in parents.items():
            if p == parent:
                found.append(child)
                frontier.append(child)
    return found


def _alive_k6xbvw(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(")") + 2] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
def test_k6xbvw_great_grandchildren_get_the_requested_signal():
    script = "sh -c \"sh -c 'sleep 37 & wait' & wait\" & sleep 37 & wait"
    proc = subprocess.Popen(["sh", "-c", script])
    tree = []
    try:
        deadline = time.time() + 5
        while time.time() < deadline:
            tree = _tree_k6xbvw(proc.pid)
            if len(tree) >= 4:
                break
            time.sleep(0.05)
        assert len(tree) >= 4, "test setup failed to start the process tree"
        signalled = kill_tree(proc.pid, sig=signal.SIGKILL)
        proc.wait(timeout=5)
        deadline = time.time() + 2
        while time.time() < deadline and any(_alive_k6xbvw(p) for p in tree):
            time.sleep(0.05)
        assert [p for p in tree if _alive_k6xbvw(p)] == []
        assert set(tree) | {proc.pid} <= set(signalled)
    finally:
        for p in tree + [proc.pid]:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        proc.wait(timeout=5)
