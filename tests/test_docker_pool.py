"""The next cell's containers, made while a cell runs (cab_core/sandbox/dockerpool.py, issue 16).

Needs dockerd and the base image (CI builds both; elsewhere skipped with the reason).
A container prepared ahead must be indistinguishable from one made for its command
(same mounts, limits, user, environment, network, an empty /tmp, no process of
another cell), reach the model proxy the same way, and give way to a fresh container
whenever it cannot serve; nothing it holds outlives the process.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cab_core import images
from cab_core.sandbox import docker as dsb
from cab_core.sandbox import dockerpool, standby
from cab_core.workspace import scratch

from test_docker import _need_image, dc, make_runner, run, session  # noqa: F401  (fixtures and helpers)

MEMORY = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
#: What a command can tell about its container (the cell's paths are replaced by ROOT).
PROBE = ("id; hostname; echo; ls -A /tmp /run/cab; echo; awk '{print $5, $6}' /proc/self/mountinfo | sort; echo;"
         " cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null; " + MEMORY + "; echo; env | sort; echo;"
         " for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -v -e '^tr ' -e '^grep ' -e '^sort' -e cmdline -e '^$' | sort -u; pwd;"
         " python3 -c \"import socket; socket.create_connection(('127.0.0.1', 4321), 5); print('proxy reached')\"")


def _cell_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="cab-cell-")).resolve()
    for name in ("work", "home", "verify", "verify-home"):
        (root / name).mkdir()
    return root


def _listen(root: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(root / "proxy.sock"))
    listener.listen(8)
    return listener


def _open(root: Path, **kw) -> dsb.DockerSession:
    s = dsb.DockerSession(proxy_socket=root / "proxy.sock", proxy_port=4321, workdir=root / "work",
                          home=root / "home", **kw)
    s.prewarm(cwd=root / "verify", writable=[root / "verify-home"], timeout=60, wait_s=60, marker="m")
    return s


def _probe(s: dsb.DockerSession, root: Path):
    env = {"HOME": str(root / "home"), "PATH": "/usr/bin:/bin"}
    res = s.run(["/bin/sh", "-c", PROBE], cwd=root / "work", env=env, timeout=60, writable=[root / "home"], marker="m")
    assert res.exit_code == 0, res
    return res.output.replace(str(root), "ROOT").replace(root.name, "ROOT")  # /tmp holds the mounts' folders


@pytest.fixture
def pool_on(monkeypatch):
    monkeypatch.setenv("CAB_DOCKER_POOL", "1")
    yield
    dockerpool.discard_all()  # whatever a test left prepared is removed now, not at exit


@pytest.mark.slow
def test_a_prepared_container_cannot_be_told_from_a_fresh_one(dc, pool_on):  # noqa: F811
    _need_image(dc, images.DEFAULT_IMAGE)
    first = _cell_root()
    listener = _listen(first)
    s = _open(first)
    try:
        assert s._slot is None
        fresh = _probe(s, first)  # made on the spot; this cell's agent command prepares the next cell's
    finally:
        s.close()
        listener.close()
    second = dsb.DockerSession.reserve_root()
    assert second is not None and second != first and second.name.startswith("cab-cell-")
    assert sorted(p.name for p in second.iterdir() if not p.name.startswith(("cab-run-", scratch.OWNER))) == [
        "home", "verify", "verify-home", "work"]
    assert not any((second / "work").iterdir()) and not any((second / "home").iterdir())
    listener = _listen(second)  # the cell's proxy starts after its containers were made
    s = _open(second)
    try:
        assert s._slot is not None
        prepared = _probe(s, second)
        assert s._used[0].container.labels.get(dockerpool.LABEL_POOL)  # it ran in the prepared container
        assert not s._standbys  # the verify step makes no container of its own: it takes the slot's
        listener.close()
        (second / "proxy.sock").unlink()  # the cell's proxy has stopped by its verify step
        res = s.run(["true"], cwd=second / "verify", env={}, timeout=60, writable=[second / "verify-home"], marker="m")
        assert res.exit_code == 0 and s._used[1].container.labels.get(dockerpool.LABEL_POOL), res
    finally:
        s.close()
        listener.close()
    assert "proxy reached" in prepared and "ROOT/work" in prepared
    assert prepared == fresh


@pytest.mark.slow
def test_a_prepared_container_that_cannot_serve_gives_way_to_a_fresh_one(dc, pool_on):  # noqa: F811
    _need_image(dc, images.DEFAULT_IMAGE)
    first = _cell_root()
    s = _open(first)
    try:
        s.run(["true"], cwd=first / "work", env={}, timeout=60, writable=[first / "home"])
    finally:
        s.close()
    second = dsb.DockerSession.reserve_root()
    slot = dockerpool._reserved[str(second)]
    for waiting in slot.unused():  # the prepared containers die before their cell comes
        waiting.container.kill()
        slot.standbys[slot.keys.index(waiting.fingerprint)] = waiting
    s = _open(second)
    try:
        res = s.run(["/bin/sh", "-c", "echo fresh; exit 3"], cwd=second / "work", env={}, timeout=60,
                    writable=[second / "home"])
        assert res.exit_code == 3 and "fresh" in res.output and res.error is None, res
        assert not any(w.container.labels.get(dockerpool.LABEL_POOL) for w in s._used if w.used)
    finally:
        s.close()
    # another configuration (a different memory limit): the slot is not used, and removed
    third = dsb.DockerSession.reserve_root()
    s = _open(third, memory="256M")
    try:
        res = s.run(["/bin/sh", "-c", MEMORY], cwd=third / "work", env={}, timeout=60,
                    writable=[third / "home"])
        assert res.exit_code == 0 and str(256 * 2**20) in res.output, res
    finally:
        s.close()
    dsb.settle()
    assert not any(c.id for c in dc.containers.list(all=True, filters={"label": dockerpool.LABEL_POOL})
                   if c.labels.get(dockerpool.LABEL_POOL) == str(__import__("os").getpid())
                   and c.id not in dockerpool.waiting_ids())


@pytest.mark.slow
def test_nothing_of_a_cell_reaches_the_next(dc, make_runner, tmp_path, pool_on, monkeypatch):  # noqa: F811
    _need_image(dc, images.DEFAULT_IMAGE)
    roots = []
    real = dockerpool.reserve_root
    monkeypatch.setattr(dockerpool, "reserve_root", lambda: roots.append(real()) or roots[-1])
    runner = make_runner()
    cmd = ("ls -A /tmp; ls /proc | grep -c '^[0-9]'; "
           "n=$((300 + 1)); c=0; for f in /proc/[0-9]*/cmdline; do "
           "[ \"$(tr '\\0' ' ' < $f 2>/dev/null)\" = \"sleep $n \" ] && c=$((c + 1)); done; echo sleepers $c; "
           "echo left > /tmp/left-by-a-cell; (setsid sleep $n &); (sleep $n &); echo done")
    outputs = []
    for n in range(3):
        result, folder = run(runner, tmp_path, model="custom", task="polyglot/python-slugify",
                             options={"command": cmd}, results=tmp_path / f"r{n}")
        assert result.status == "ok", result.error
        outputs.append((folder / "agent_output.txt").read_text())
    assert roots[0] is None and roots[1] is not None and roots[2] is not None  # cells 2 and 3 ran prepared
    assert all("left-by-a-cell" not in out for out in outputs)
    assert all("sleepers 0\n" in out for out in outputs), outputs  # no process of an earlier cell is there
    counts = [int(line) for out in outputs for line in out.splitlines() if line.strip().isdigit()]
    # about as many processes as the first cell's fresh container had (a short-lived one may come
    # and go while /proc is listed; an earlier cell's two sleepers would add two a cell)
    assert max(counts) - min(counts) <= 1, outputs


def test_a_prepared_slot_matches_exactly_what_the_next_cell_asks_for(tmp_path):
    first, second = tmp_path / "cab-cell-a", tmp_path / "cab-cell-b"
    specs = []
    for root in (first, second):
        s = session(workdir=root / "work", home=root / "home")
        specs.append(s.container_spec(["/bin/sh", "-c", "true"], cwd=root / "work", env={}, timeout=60,
                                      writable=[root / "home"], marker="m"))
    moved = dockerpool._moved(specs[0], str(first.resolve()), str(second.resolve()))
    assert standby.fingerprint(moved) == standby.fingerprint(specs[1])
    assert moved["labels"][dsb.LABEL_CELL] == "" and moved["labels"][dockerpool.LABEL_POOL]
    other = session(workdir=second / "work", home=second / "home", memory="1G")
    asked = other.container_spec(["/bin/sh", "-c", "true"], cwd=second / "work", env={}, timeout=60,
                                 writable=[second / "home"])
    assert standby.fingerprint(moved) != standby.fingerprint(asked)  # other limits: a fresh container


@pytest.mark.slow
def test_prepared_containers_go_when_the_process_exits(dc, tmp_path):  # noqa: F811
    _need_image(dc, images.DEFAULT_IMAGE)
    script = (
        "import json, sys, tempfile\n"
        "from pathlib import Path\n"
        "from cab_core.sandbox import docker as dsb, dockerpool\n"
        "root = Path(tempfile.mkdtemp(prefix='cab-cell-')).resolve()\n"
        "for n in ('work', 'home', 'verify', 'verify-home'): (root / n).mkdir()\n"
        "s = dsb.DockerSession(workdir=root / 'work', home=root / 'home')\n"
        "s.prewarm(cwd=root / 'verify', writable=[root / 'verify-home'], timeout=60, wait_s=60)\n"
        "s.run(['true'], cwd=root / 'work', env={}, timeout=60, writable=[root / 'home'])\n"
        "s.close()\n"
        "slot = dockerpool._ready[0]\n"
        "[done.wait(120) for done in slot.done]\n"
        "print(json.dumps([w.container.id for w in slot.standbys if w is not None]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "CAB_DOCKER_POOL": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    ids = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(ids) == 2
    left = {c.id for c in dc.containers.list(all=True, filters={"label": dockerpool.LABEL_POOL})}
    assert not set(ids) & left


@pytest.mark.slow
def test_a_folder_replaced_after_its_container_was_made_gets_a_fresh_container(dc, pool_on):  # noqa: F811
    """A bind mount holds the folder it was made of: one renamed over it since is not what it shows."""
    _need_image(dc, images.DEFAULT_IMAGE)
    first = _cell_root()
    s = _open(first)
    try:
        s.run(["true"], cwd=first / "work", env={}, timeout=60, writable=[first / "home"])
    finally:
        s.close()
    second = dsb.DockerSession.reserve_root()
    dockerpool._reserved[str(second)].get("no such key")  # nothing; the slot stays as it is
    filled = second / "filled"
    filled.mkdir()
    (filled / "starting-file.txt").write_text("the task's files\n")
    (second / "work").rmdir()
    filled.rename(second / "work")  # the starting files moved into place in one step
    s = _open(second)
    try:
        res = s.run(["/bin/sh", "-c", "cat starting-file.txt"], cwd=second / "work", env={}, timeout=60,
                    writable=[second / "home"])
        assert res.exit_code == 0 and "the task's files" in res.output, res
        assert not any(w.container.labels.get(dockerpool.LABEL_POOL) for w in s._used if w.used)
    finally:
        s.close()
