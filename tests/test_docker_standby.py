"""Standby containers: the verify step's fresh container started while the agent runs (issue 16).

Needs dockerd and the base image (CI builds both; elsewhere skipped with the reason).
A standby must behave exactly as a container made for its command (output, exit code,
environment, working folder, mounts), never see the model proxy, and give way to a
fresh container whenever it cannot serve (other mounts, or it stopped waiting).
"""

from __future__ import annotations

import socket
import time

import pytest

from cab_core import images
from cab_core.sandbox import docker as dsb

from test_docker import _need_image, dc  # noqa: F401  (the docker client fixture)

pytestmark = pytest.mark.slow


@pytest.fixture
def folders(tmp_path):
    work, home, other = tmp_path / "verify", tmp_path / "verify-home", tmp_path / "other"
    for path in (work, home, other):
        path.mkdir()
    return work, home, other


def _session(tmp_path, **kw):
    return dsb.DockerSession(docker_client=images.client(), **kw)


def _created(client, session) -> int:
    return len(client.containers.list(all=True, filters={"label": f"{dsb.LABEL_SESSION}={session.session_id}"}))


def test_a_standby_runs_the_command_as_a_fresh_container_would(dc, tmp_path, folders):  # noqa: F811
    _need_image(dc, images.DEFAULT_IMAGE)
    work, home, _ = folders
    s = _session(tmp_path)
    try:
        s.prewarm(cwd=work, writable=[home], timeout=60, wait_s=60, marker="m1")
        tricky = "a b'c\"$HOME;`x`\nline two"
        res = s.run(["/bin/sh", "-c", 'printf "%s|" "$TRICKY" "$(pwd)" "$HOME"; ls /run; touch "$HOME/made"; exit 7'],
                    cwd=work, env={"TRICKY": tricky, "HOME": str(home)}, timeout=60, writable=[home], marker="m1")
        job = s._standbys[0]
        assert job["standby"] is not None and job["standby"].used  # it ran in the standby
        assert res.exit_code == 7 and not res.timed_out, res
        assert f"{tricky}|{work}|{home}|" in res.output.replace("\r\n", "\n")
        assert "|cab " in res.output  # its own /run/cab, like every container of the sandbox
        assert (home / "made").exists()
    finally:
        s.close()
    dsb.settle()
    assert _created(dc, s) == 0


def test_a_standby_never_sees_the_model_proxy(dc, tmp_path, folders):  # noqa: F811
    _need_image(dc, images.DEFAULT_IMAGE)
    work, home, _ = folders
    sock_path = tmp_path / "proxy.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock_path))
    listener.listen()
    s = _session(tmp_path, proxy_socket=sock_path, proxy_port=4321)
    try:
        s.prewarm(cwd=work, writable=[home], timeout=60, wait_s=60)
        s._begin_standbys()
        s._standbys[0]["thread"].join(60)
        sock_path.unlink()  # the proxy stops before the verify step, as in a cell
        res = s.run(["/bin/sh", "-c", "ls /run/cab 2>&1; python3 -c \"import socket; socket.create_connection(('127.0.0.1', 4321), 2)\" 2>&1 | tail -1"],
                    cwd=work, env={"HOME": str(home)}, timeout=60, writable=[home])
        assert s._standbys[0]["standby"].used
        assert "go" in res.output and "proxy.sock" not in res.output and "forwarder" not in res.output
        assert "Connection refused" in res.output or "Errno" in res.output
    finally:
        listener.close()
        s.close()


def test_other_mounts_or_a_dead_standby_get_a_fresh_container(dc, tmp_path, folders):  # noqa: F811
    _need_image(dc, images.DEFAULT_IMAGE)
    work, home, other = folders
    s = _session(tmp_path)
    try:
        s.prewarm(cwd=work, writable=[home], timeout=60, wait_s=60)
        res = s.run(["/bin/sh", "-c", "pwd"], cwd=other, env={}, timeout=60)  # other mounts: not the standby
        s._standbys[0]["thread"].join(60)  # begun once that command's container started
        assert res.exit_code == 0 and str(other) in res.output and not s._standbys[0]["standby"].used
        s._standbys[0]["standby"].container.kill()  # it stops waiting
        time.sleep(0.5)
        res = s.run(["/bin/sh", "-c", "echo fresh; exit 3"], cwd=work, env={}, timeout=60, writable=[home])
        assert res.exit_code == 3 and "fresh" in res.output, res
    finally:
        s.close()
    dsb.settle()
    assert _created(dc, s) == 0


def test_a_docker_cell_verifies_in_a_standby_with_the_same_verdicts(dc, tmp_path):  # noqa: F811
    """Oracle passes and noop fails as before."""
    _need_image(dc, images.DEFAULT_IMAGE)
    from conftest import run_cab

    for model, passed in (("oracle", 1.0), ("noop", 0.0)):
        res = run_cab("run", "--adapter", "command", "--model", model, "--task", "polyglot/python-slugify",
                      "--sandbox", "docker", "--results", tmp_path / model, "--json", timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        import json

        cell = json.loads(res.stdout)
        assert cell["status"] == "ok" and cell["scores"]["pass_rate"]["value"] == passed, cell.get("error")
    # (that no container is left behind is test_docker.py's test_no_container_is_left_behind)
