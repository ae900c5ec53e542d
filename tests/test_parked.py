"""Launchers parked ahead of their command (issue 16): the command is the same as started afresh.

A parked launcher is already in its cgroup with its output wired; handed a command it
``exec``\\ s it.  The command must see exactly its own environment and folder, stay under
its limits, be killed with its cgroup, and nothing parked may outlive the harness.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cab_core.sandbox import parked
from cab_core.sandbox.cgroups import CGROUP_PARENT, CGROUP_ROOT, _own_cgroups
from cab_core.sandbox.local import LocalSession, bwrap_path

pytestmark = pytest.mark.skipif(not bwrap_path(), reason="parked launchers serve bubblewrap commands")


def _session_run(session, argv, folder, **kw):
    return session.run(argv, cwd=folder, env={"PATH": os.environ["PATH"], "ODD": "a b'c\"$x\nz"}, timeout=30, **kw)


@pytest.mark.slow
def test_commands_run_from_parked_launchers_as_they_would_afresh(tmp_path):
    session = LocalSession(limits={"pids": "64"})
    script = 'printf "%s|%s|" "$ODD" "$(pwd)"; env | grep -c CAB_PARKED; test -t 1 && echo tty || echo pipe; exit 5'
    for _ in range(3):  # the first starts afresh (and parks one); the next ones are handed to parked launchers
        r = _session_run(session, ["/bin/sh", "-c", script], tmp_path)
        assert r.exit_code == 5 and f"a b'c\"$x\nz|{tmp_path}|0" in r.output.replace("\r\n", "\n") and "pipe" in r.output
        time.sleep(0.3)
    r = _session_run(session, ["/bin/sh", "-c", script], tmp_path, cast_path=tmp_path / "c.cast")
    assert r.exit_code == 5 and "tty" in r.output
    time.sleep(0.3)
    r = _session_run(session, ["/bin/sh", "-c", script], tmp_path, cast_path=tmp_path / "c2.cast")
    assert r.exit_code == 5 and "tty" in r.output and (tmp_path / "c2.cast").read_text().count("tty") == 1


def test_a_parked_launchers_command_keeps_its_process_limit(tmp_path):
    own = _own_cgroups()
    if "pids" not in own:
        pytest.skip("no pids cgroup here")
    session = LocalSession(limits={"pids": "32"})
    bomb = "for i in $(seq 100); do sleep 5 & done; wait"
    _session_run(session, ["/bin/sh", "-c", "true"], tmp_path)
    time.sleep(0.5)  # a launcher is parked now
    t0 = time.monotonic()
    r = _session_run(session, ["/bin/sh", "-c", bomb], tmp_path)
    assert r.error and r.error.startswith("limit exceeded: processes") and time.monotonic() - t0 < 20


def test_a_dead_parked_launcher_is_not_used(tmp_path):
    session = LocalSession()
    _session_run(session, ["/bin/true"], tmp_path)
    time.sleep(0.5)
    for launcher in list(parked.POOL._ready.values()):
        launcher.child.kill()
        launcher.child.wait()
    r = _session_run(session, ["/bin/sh", "-c", "echo fine"], tmp_path)
    assert r.exit_code == 0 and "fine" in r.output


@pytest.mark.slow
def test_nothing_parked_outlives_the_harness(tmp_path):
    code = ("import os, time; from pathlib import Path\n"
            "from cab_core.sandbox import parked\n"
            "from cab_core.sandbox.local import LocalSession\n"
            "s = LocalSession()\n"
            f"s.run(['/bin/true'], cwd=Path({str(tmp_path)!r}), env={{'PATH': os.environ['PATH']}}, timeout=30)\n"
            "time.sleep(2)\n"  # the refill is parked within quiet.MAX_WAIT_S when no command runs
            "print(os.getpid(), *[p.child.pid for p in parked.POOL._ready.values()])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    pid, *launchers = out.stdout.split()
    assert pid.isdigit() and launchers, out.stderr[-2000:]
    time.sleep(0.5)
    assert not [p for p in launchers if Path(f"/proc/{p}").exists()], "a parked launcher outlived its harness"
    own = _own_cgroups()
    parent = CGROUP_ROOT / "pids" / own.get("pids", "/").lstrip("/") / CGROUP_PARENT
    if parent.is_dir():
        assert not [p for p in parent.iterdir() if p.name.startswith(f"{pid}-")]


def test_a_launcher_handed_its_command_while_still_joining_its_cgroups_runs_it(tmp_path, monkeypatch):
    """A launcher used the moment it is parked is still joining its cgroups one by one: they are
    renamed for the command only once it is in all of them (renamed earlier, it found its last
    folder gone and ended with 125, and the command started afresh or waited)."""
    from cab_core.sandbox.cgroups import CellCgroup
    from cab_core.sandbox.limits import Limits

    real = CellCgroup.join_script

    def slow_join(self):  # a pause before each join: a busy machine's scheduling, made certain
        return real(self).replace("echo $$ >", "sleep 0.3; echo $$ >")

    monkeypatch.setattr(CellCgroup, "join_script", slow_join)
    launcher = parked.Parked(limits=Limits.from_options({"pids": "64"}), terminal=False, relay=None)
    try:
        if not launcher.cgroup.dirs:
            pytest.skip("no cgroup here to join")
        time.sleep(0.35)  # in the first cgroup (if there are several), not yet in the last
        assert launcher.go(["/bin/sh", "-c", "echo handed"], env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
        out = b""
        deadline = time.monotonic() + 10
        while b"handed" not in out and time.monotonic() < deadline:
            out += os.read(launcher.fd, 4096)
        assert b"handed" in out
        assert launcher.child.wait(10) == 0
    finally:
        launcher.discard()
