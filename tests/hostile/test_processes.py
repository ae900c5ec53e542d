"""Processes: daemons that outlive the agent, and fork bombs.

Each scenario runs under bubblewrap and unisolated (``CAB_NO_BWRAP=1``): the cgroup
a command runs in, not the sandbox, is what finds and kills what it left behind, so
both modes must clean up.
"""

import os
import random
import time

import pytest

from cab_core.sandbox.limits import CGROUP_PARENT, CGROUP_ROOT, _own_cgroups
from cab_core.sandbox.local import bwrap_path
from cab_core.workspace import trash

from .conftest import FIXED, assert_contained, needs_cgroups, no_process_with, passed, span

MODES = ["bwrap", "none"]


@pytest.fixture(params=MODES)
def mode(request, monkeypatch):
    if request.param == "bwrap" and not bwrap_path():
        pytest.skip("needs bubblewrap")
    if request.param == "none":
        monkeypatch.setenv("CAB_NO_BWRAP", "1")
    return request.param


def unique_sleep() -> str:
    return f"sleep {random.randint(100000, 999999)}"


def wait_gone(text: str, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if no_process_with(text):
            return True
        time.sleep(0.1)
    return no_process_with(text)


def cab_cgroups() -> list:
    own = _own_cgroups()
    parent = CGROUP_ROOT / "pids" / own.get("pids", "/").lstrip("/") / CGROUP_PARENT
    # (a launcher parked for the next command has a cgroup of its own, named so until it is used)
    return [p for p in parent.iterdir() if p.is_dir() and p.name.startswith(f"{os.getpid()}-")
            and not p.name.startswith(f"{os.getpid()}-parked-")] if parent.is_dir() else []


@pytest.mark.parametrize("how", [
    "( {sleep} & ) &",                             # double fork: reparented to init
    "setsid {sleep} &",                            # a new session: out of the process group
    "env -i /bin/sh -c '( {sleep} & ) &'",          # and without the marker in its environment
    "nohup setsid env -i {sleep} >/dev/null 2>&1 </dev/null &",  # and immune to the terminal's hangup
])
def test_a_daemon_does_not_outlive_the_cell(hostile, mode, how):
    sleep = unique_sleep()
    # (the agent lingers a moment so the daemon is up before the terminal goes away)
    result, folder = hostile(how.format(sleep=sleep) + f"\nsleep 0.5; {FIXED}; echo started")
    assert_contained(result, folder)
    assert passed(result) == 1
    assert wait_gone(sleep), f"{sleep} survived the cell ({mode})"


def test_a_daemon_started_by_the_code_under_test_does_not_outlive_verification(hostile, mode):
    sleep = unique_sleep()
    code = ("import os, subprocess\\n"
            f"subprocess.Popen(['env', '-i', 'setsid', 'sh', '-c', '{sleep}'], start_new_session=True)\\n"
            "def add(a, b):\\n    return a + b\\n")
    result, folder = hostile(f"printf \"{code}\" > calc.py")
    assert_contained(result, folder)
    assert wait_gone(sleep)


@needs_cgroups
def test_a_fork_bomb_is_stopped_and_scored_as_a_failure(hostile, mode):
    bomb = "bomb() { bomb | bomb & }; bomb; sleep 30"
    t0 = time.monotonic()
    result, folder = hostile(f"{FIXED}; {bomb}", timeout=60, options={"limit.pids": "64"})
    assert time.monotonic() - t0 < 45, "the bomb ran until the timeout"
    assert_contained(result, folder)
    container = span(result, "container")
    assert container.attrs["error"].startswith("limit exceeded: processes"), container.attrs
    assert span(result, "verify").attrs["skipped"].startswith("limit exceeded")
    assert passed(result) == 0 and not result.timed_out
    assert wait_gone("bomb")
    trash.drain()  # the cgroups' folders are removed in the background, while the next command runs
    assert cab_cgroups() == []  # removed after the cell


@needs_cgroups
def test_the_process_limit_leaves_an_ordinary_command_alone(hostile, mode):
    result, folder = hostile(f"for i in $(seq 20); do sleep 0.01 & done; wait; {FIXED}", options={"limit.pids": "64"})
    assert span(result, "container").attrs["error"] is None
    assert passed(result) == 1
    assert span(result, "container").attrs["limits"]["pids"] == 64
