"""Sandboxes built ahead of their command (issue 16): the verify step's, made while the agent runs.

The command handed to a sandbox built ahead must see exactly what a fresh sandbox
would show it (its environment, its folder, its mounts, no model proxy), and a sandbox
that is not exactly the command's own (another view, another folder, dead) is never
used: the command starts afresh.  Nothing built ahead outlives its session.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from cab_core.sandbox.local import LocalSession, bwrap_path

pytestmark = pytest.mark.skipif(not bwrap_path(), reason="sandboxes built ahead are bubblewrap ones")

ENV = {"PATH": os.environ["PATH"], "ODD": "a b'c\"$x\nz", "HOME": "/nonexistent"}
# ... and the signal dispositions it inherits (the Python waiter's own must not leak into the command)
PROBE = ('printf "%s|%s|" "$ODD" "$(pwd)"; env | sort | tr "\\n" ";"; echo; ls /run; ls /proc/self/fd; '
         'grep -E "^Sig(Ign|Blk)" /proc/self/status; cat late.txt 2>/dev/null; exit 7')


def _folders(tmp_path):
    work, home = tmp_path / "verify", tmp_path / "verify-home"
    work.mkdir()
    home.mkdir()
    return work, home


def _built_ahead(tmp_path):
    """A session with the verify folder's sandbox built ahead and ready: (session, work, home, prebuilt)."""
    work, home = _folders(tmp_path)
    session = LocalSession()
    session.prewarm(cwd=work, writable=[home], timeout=30, wait_s=60, env=ENV)
    pre = session._prebuilt[str(work)]
    pre.begin()  # (a session begins it once the command before it has started)
    pre._thread.join()
    assert pre.launcher is not None
    return session, work, home, pre


def _run(session, work, home, env=ENV, script=PROBE):
    return session.run(["/bin/sh", "-c", script], cwd=work, env=env, timeout=30, writable=[home])


def test_a_command_in_a_sandbox_built_ahead_sees_what_a_fresh_one_shows(tmp_path):
    work, home = _folders(tmp_path)
    fresh = _run(LocalSession(), work, home)
    session = LocalSession()
    session.prewarm(cwd=work, writable=[home], timeout=30, wait_s=60, env=ENV)
    time.sleep(0.5)
    (work / "late.txt").write_text("filled after the sandbox was built\n")  # the verify copy is filled in place
    ahead = _run(session, work, home)
    assert session.built_ahead == 1
    assert ahead.exit_code == fresh.exit_code == 7
    # the same environment, exactly, the same folder, /run and descriptors
    assert ahead.output.replace("filled after the sandbox was built\n", "") == fresh.output
    assert f"a b'c\"$x\nz|{work}|".replace("\n", "") in ahead.output.replace("\n", "")
    assert "filled after" in ahead.output


def test_a_sandbox_built_for_another_view_is_not_used(tmp_path):
    work, home = _folders(tmp_path)
    session = LocalSession()
    session.prewarm(cwd=work, writable=[home], timeout=30, wait_s=60, env=ENV)
    other_path = {**ENV, "PATH": f"{tmp_path}:{ENV['PATH']}"}  # another PATH: another view of the host
    r = _run(session, work, home, env=other_path)
    assert session.built_ahead == 0 and r.exit_code == 7 and f"PATH={tmp_path}:" in r.output
    tool = tmp_path / "tools" / "tool"  # an executable outside the system: its folder is shown to it
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\necho from the tool\n")
    tool.chmod(0o755)
    session.prewarm(cwd=work, writable=[home], timeout=30, wait_s=60, env=ENV)
    r = session.run([str(tool)], cwd=work, env=ENV, timeout=30, writable=[home])
    assert session.built_ahead == 0 and r.exit_code == 0 and "from the tool" in r.output
    session.prewarm(cwd=work, writable=[home], timeout=30, wait_s=60, env=ENV)
    r = _run(session, work, home / "..")  # other writable folders
    assert session.built_ahead == 0 and r.exit_code == 7
    session.prewarm(cwd=work, writable=[home], timeout=30, wait_s=60, env=ENV)
    r = session.run(["/bin/echo", "not a shell"], cwd=work, env=ENV, timeout=30, writable=[home])
    assert session.built_ahead == 1 and r.exit_code == 0 and "not a shell" in r.output  # the very same sandbox
    session.close()


def test_a_dead_sandbox_built_ahead_means_a_fresh_start(tmp_path):
    session, work, home, pre = _built_ahead(tmp_path)
    os.killpg(pre.launcher.child.pid, 9)
    pre.launcher.child.wait()
    r = _run(session, work, home)
    assert r.exit_code == 7 and session.built_ahead == 0 and "ODD" in r.output


def test_the_command_cannot_reach_the_model_proxy_or_feed_its_own_waiter(tmp_path):
    work, home = _folders(tmp_path)
    sock = tmp_path / "proxy.sock"
    import socket

    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    server.listen()
    try:
        session = LocalSession(proxy_socket=sock, proxy_port=8123)
        session.prewarm(cwd=work, writable=[home], timeout=30, wait_s=60, env=ENV)
        probe = ("python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 8123), 1)' 2>/dev/null "
                 "&& echo REACHED || echo unreachable; "
                 "for fd in /proc/self/fd/*; do case $fd in */[012]) ;; *) "
                 "timeout 1 sh -c \"echo echo INJECTED > $fd\" 2>/dev/null;; esac; done; echo done")
        r = session.run(["/bin/sh", "-c", probe], cwd=work, env=ENV, timeout=30, writable=[home])
        assert session.built_ahead == 1 and "unreachable" in r.output
        assert "REACHED" not in r.output and "INJECTED" not in r.output and "done" in r.output
    finally:
        server.close()


def test_nothing_built_ahead_outlives_its_session(tmp_path):
    session, work, home, pre = _built_ahead(tmp_path)
    pid = pre.launcher.child.pid
    session.close()
    assert not session._prebuilt
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid), "a sandbox built ahead outlived its session"
    assert not pre.ctl.exists()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_a_cell_verifies_in_the_sandbox_built_while_its_agent_ran(tmp_path, monkeypatch):
    from cab_core.sandbox import local

    used = []
    real = local.LocalSession._run_prebuilt

    def spy(self, *a, **kw):
        result = real(self, *a, **kw)
        used.append(result is not None)
        return result

    monkeypatch.setattr(local.LocalSession, "_run_prebuilt", spy)
    task = tmp_path / "tasks" / "t" / "calc"
    (task / "workspace" / "tests").mkdir(parents=True)
    (task / "workspace" / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (task / "workspace" / "tests" / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    (task / "solution").mkdir()
    (task / "solution" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (task / "task.toml").write_text('id = "t/calc"\nlanguage = "python"\nprompt = "Fix add."\n'
                                    'test_command = "python -m pytest -q"\nprotected = ["tests/**"]\n'
                                    'expected_changes = ["calc.py"]\n')
    from cab_core.plugins import get_plugin_manager
    from cab_core.registry import Registry
    from cab_core.runner import RunOptions, Runner
    from cab_core.tasks import TaskCatalog

    registry = Registry(get_plugin_manager())
    runner = Runner(registry, TaskCatalog(registry, [tmp_path / "tasks"], builtin=False))
    for fix, passed in (("a + b", True), ("a - b", False)):
        opts = RunOptions(adapter="command", model="custom", task="t/calc", results=tmp_path / "results",
                          options={"command": f"sed -i 's/a - b/{fix}/' calc.py"}, trial=1 + int(not passed))
        result, _ = runner.run_cell(opts)
        assert result.status == "ok" and (result.scores["pass_rate"].value == 1.0) is passed
    assert used and all(used)


def test_a_sandbox_still_being_built_does_not_hold_the_command_back(tmp_path, monkeypatch):
    from cab_core.sandbox import prebuilt

    monkeypatch.setattr(prebuilt, "MATCH_WAIT_S", 0.2)
    release = __import__("threading").Event()

    def stuck_launcher():  # e.g. a launcher that never reads its command
        release.wait(10)
        return None

    pre = prebuilt.Prebuilt(cwd=tmp_path, launcher_for=stuck_launcher, wrap=lambda cmd, fds: cmd, env={}, wait_s=5)
    t0 = time.monotonic()
    assert not pre.matches(["bwrap", "--chdir", str(tmp_path), "--", "true"])
    pre.discard()  # nobody waits for the build to end
    assert time.monotonic() - t0 < 2
    release.set()
    deadline = time.monotonic() + 5
    while pre.ctl.exists() and time.monotonic() < deadline:  # discarded once the build gave up
        time.sleep(0.02)
    assert not pre.ctl.exists()


def _still_building(session, tmp_path, work, home, env):
    """A verify sandbox for ``env``'s view, as the last cell's slot leaves it: still being built (until
    the returned event is set)."""
    import threading

    from cab_core.sandbox import prebuilt

    gate = threading.Event()

    def slow_launcher():
        gate.wait(10)
        return session._launcher(False, False)

    writable = [work, home]
    ahead = prebuilt.Prebuilt(cwd=work, env=env, wait_s=60, offline=True, launcher_for=slow_launcher,
                              wrap=lambda waiting, fds: session._wrap(["/bin/sh", "-c", "true"], work, writable, env,
                                                                      False, proxy=False, command=waiting, show=False))
    ahead.begin()
    session._prebuilt[str(work)] = ahead
    return ahead, gate


@pytest.mark.parametrize("shape", ["same", "another"])
def test_the_next_cell_does_not_wait_for_its_sandbox_still_being_built_and_gets_its_own_view(tmp_path, shape):
    # The slot's verify sandbox is built beside the last cell's tests; the next cell's prewarm comes
    # while it is still being built.  It is not waited for (its build is stuck on the gate here: a
    # wait would hang); once built, it serves if it is this cell's view, else this cell's own is
    # built in its place, in the same thread.  Either way the command runs in a sandbox built ahead.
    work, home = _folders(tmp_path)
    session = LocalSession()
    env = ENV if shape == "same" else {**ENV, "PATH": f"{tmp_path}:{ENV['PATH']}"}  # another view of the host
    ahead, gate = _still_building(session, tmp_path, work, home, env)
    session.prewarm(cwd=work, writable=[home], timeout=30, wait_s=60, env=ENV)
    assert session._prebuilt[str(work)] is ahead and ahead._thread.is_alive()  # returned without waiting
    first_folder = ahead.ctl
    gate.set()
    fresh = LocalSession().run(["/bin/sh", "-c", PROBE], cwd=work, env=ENV, timeout=30, writable=[home])
    r = _run(session, work, home)
    assert session.built_ahead == 1 and r.exit_code == 7
    assert r.output == fresh.output  # exactly the view a fresh sandbox shows
    assert (ahead.ctl == first_folder) is (shape == "same")
    session.close()
    deadline = time.monotonic() + 5
    while (first_folder.exists() or ahead.ctl.exists()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not first_folder.exists() and not ahead.ctl.exists()  # nothing of either build is left
