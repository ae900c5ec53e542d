"""A docker command's end as the daemon announces it, and the rest of issue 16's docker cuts.

Exit codes come from the daemon's ``die`` events (cab_core/sandbox/dockerevents.py)
instead of a ``wait`` and an inspect after every command; a stream that broke, or an
event that never came, falls back to ``wait``; an out-of-memory kill is never missed.
A docker command needs no scan of /proc for its marker (its processes end with its
container); the verify step never waits for the next cell's containers at prewarm,
and a slot's two containers are made side by side.  The ``slow`` tests need dockerd
and the base image (CI builds both; elsewhere skipped with the reason).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from docker.types import Mount

from cab_core import images
from cab_core.sandbox import docker as dsb
from cab_core.sandbox import dockerevents, dockerpool, procs, standby

from test_docker import _need_image, dc, session  # noqa: F401  (the docker client fixture, a daemon-less session)


# --------------------------------------------------------------------------- without a daemon
class FakeStream:
    """An event stream: the given events, then open until closed (or broken, with ``breaks``)."""

    def __init__(self, events, breaks=False):
        self.events, self.breaks, self.closed = list(events), breaks, threading.Event()

    def __iter__(self):
        yield from self.events
        if self.breaks:
            raise ConnectionError("the daemon went away")
        self.closed.wait(30)

    def close(self):
        self.closed.set()


class EventsClient:
    def __init__(self, *streams):
        self.streams, self.asked = list(streams), []

    def events(self, **kw):
        self.asked.append(kw)
        return self.streams.pop(0)


def _die(cid: str, code) -> dict:
    return {"Type": "container", "Action": "die", "Actor": {"ID": cid, "Attributes": {"exitCode": str(code)}}}


def test_exit_codes_and_oom_kills_are_read_from_the_event_stream():
    stream = FakeStream([_die("a", 3), {"Action": "oom", "Actor": {"ID": "b"}}, _die("b", 0),
                         {"Action": "die", "Actor": {"ID": "c", "Attributes": {}}}])
    client = EventsClient(stream)
    ends = dockerevents.ends(client)
    try:
        assert ends.exit_code("a") == 3 and ends.exit_code("b") == 0
        assert ends.oom_killed("b") and not ends.oom_killed("b") and not ends.oom_killed("a")
        t0 = time.monotonic()
        assert ends.exit_code("c", timeout=0.2) is None  # announced without a code: ask ``wait``
        assert ends.exit_code("a", timeout=0.2) is None  # each end is given once
        assert time.monotonic() - t0 < 2
        assert dockerevents.ends(client) is ends  # one reader per client
        # Subscribed with ``since``: an end between the daemon's headers and its subscription is replayed.
        assert client.asked[0]["since"] <= time.time() - 4
        assert client.asked[0]["filters"]["label"] == [dockerevents.LABEL]
    finally:
        stream.close()


def test_a_broken_event_stream_sends_waiters_to_wait_at_once_and_is_reopened():
    broken, fresh = FakeStream([], breaks=True), FakeStream([_die("x", 7)])
    client = EventsClient(broken, fresh)
    ends = dockerevents.Ends(client)
    deadline = time.monotonic() + 5
    while ends.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    assert ends.exit_code("x", timeout=10) is None and time.monotonic() - t0 < 1
    again = dockerevents.ends(client)
    try:
        assert again is not ends and again.exit_code("x") == 7
    finally:
        fresh.close()
    assert dockerevents.ends(object()) is None  # a client that cannot stream events: none


def test_prewarm_never_waits_for_the_slot_being_made(tmp_path):
    root = tmp_path / "cab-cell-x"
    for name in ("work", "home", "verify", "verify-home"):
        (root / name).mkdir(parents=True)
    s = session(workdir=root / "work")
    spec = s.container_spec(["true"], cwd=root / "verify", env={}, timeout=60, writable=[root / "verify-home"],
                            proxied=False)
    slot = dockerpool.Slot(root, [standby.fingerprint(spec)])  # its container still being made
    s._slot = slot
    threading.Timer(3, slot.done[0].set).start()
    t0 = time.monotonic()
    s.prewarm(cwd=root / "verify", writable=[root / "verify-home"], timeout=60, wait_s=60)
    assert time.monotonic() - t0 < 1  # the verify step takes the slot's container when it runs
    assert s._standbys == []  # and makes none of its own
    slot.done[0].set()


def test_a_slots_containers_are_made_side_by_side(tmp_path, monkeypatch):
    spans, lock = [], threading.Lock()

    class Made:
        def __init__(self, fingerprint):
            self.fingerprint = fingerprint
            self.container = type("C", (), {"remove": lambda self, force=False: None, "short_id": "x"})()

        def discard(self):
            pass

    def make(client, kwargs, *, proxied, near=None):
        start = time.monotonic()
        time.sleep(0.5)
        with lock:
            spans.append((start, time.monotonic()))
        return Made(standby.fingerprint(kwargs))

    monkeypatch.setenv("CAB_DOCKER_POOL", "1")
    monkeypatch.setattr(standby, "make", make)
    monkeypatch.setattr(dockerpool, "client", lambda: object())
    old = tmp_path / "cab-cell-old"
    kwargs = [{"image": "i", "mounts": [Mount(str(old / name), str(old / name), type="bind")], "labels": {},
               "working_dir": str(old / name)} for name in ("work", "verify")]
    before = list(dockerpool._ready)
    dockerpool.prepare([(kwargs[0], True), (kwargs[1], False)], old)
    slot = next(s for s in dockerpool._ready if s not in before)
    try:
        assert all(done.wait(5) for done in slot.done)
        (a0, a1), (b0, b1) = sorted(spans)
        assert b0 < a1  # the second began before the first was made
        assert [w.fingerprint for w in slot.standbys] == slot.keys
    finally:
        dockerpool._ready.remove(slot)
        slot.discard()
        dockerpool.settle()


def test_a_standby_made_for_another_proxy_setting_does_not_serve(tmp_path):
    sock = tmp_path / "proxy.sock"
    sock.touch()
    for proxied, socket in ((False, sock), (True, None)):
        folder = standby.run_folder(tmp_path, proxied=proxied)
        reader = os.open(folder / "go", os.O_RDONLY | os.O_NONBLOCK)  # a waiter: a hand-over would succeed
        try:
            waiting = standby.Standby(None, folder, None, None, "key")
            # Without the forwarder the command could not reach the proxy; with it, a command that
            # does not reach it would see a /run/cab no fresh container of its own has: a fresh one serves.
            assert waiting.go(["true"], {}, "/", proxy_socket=socket) is False
            assert os.read(reader, 100) == b""  # nothing was handed over
        finally:
            os.close(reader)


# --------------------------------------------------------------------------- with a daemon
@pytest.fixture
def counted(monkeypatch):
    """Counts of the daemon calls a command's end used to cost (``wait``, inspect) and of /proc scans."""
    from docker.models.containers import Container

    calls = {"wait": 0, "reload": 0, "scan": 0}
    for name in ("wait", "reload"):
        original = getattr(Container, name)

        def counting(self, *a, _name=name, _original=original, **kw):
            calls[_name] += 1
            return _original(self, *a, **kw)

        monkeypatch.setattr(Container, name, counting)
    scan = procs.marked_pids

    def scanning(marker):
        calls["scan"] += 1
        return scan(marker)

    monkeypatch.setattr(procs, "marked_pids", scanning)
    return calls


@pytest.mark.slow
def test_a_commands_exit_code_is_the_daemons_announcement(dc, tmp_path, counted):  # noqa: F811
    _need_image(dc, images.DEFAULT_IMAGE)
    s = dsb.DockerSession(docker_client=images.client())
    try:
        assert s._ends is not None and s._ends.alive
        for code in (3, 0, 1):
            res = s.run(["/bin/sh", "-c", f"echo out; exit {code}"], cwd=tmp_path, env={}, timeout=60, marker="m-ev")
            assert res.exit_code == code and "out" in res.output and res.error is None, res
        assert counted["wait"] == 0 and counted["reload"] == 0
        # Whatever the command leaves running ends with its container: the harness neither waits for it
        # nor scans /proc for it.
        t0 = time.monotonic()
        res = s.run(["/bin/sh", "-c", "sleep 300 & (setsid sleep 300 &); echo left"], cwd=tmp_path, env={},
                    timeout=60, marker="m-ev")
        assert res.exit_code == 0 and "left" in res.output and time.monotonic() - t0 < 15, res
        assert procs.sweep("m-ev") == 0 and counted["scan"] == 0
    finally:
        s.close()
        procs.forget("m-ev")


@pytest.mark.slow
def test_without_an_announcement_the_daemon_is_asked(dc, tmp_path, counted):  # noqa: F811
    _need_image(dc, images.DEFAULT_IMAGE)
    s = dsb.DockerSession(docker_client=images.client())

    class Missed:  # the event never came (a stream that broke, or a daemon too busy)
        def exit_code(self, container_id, timeout=0):
            return None

        def oom_killed(self, container_id):
            return False

        def close(self):
            pass

    try:
        for ends in (None, Missed()):
            s._ends = ends
            res = s.run(["/bin/sh", "-c", "exec >/dev/null 2>&1; sleep 1; exit 4"], cwd=tmp_path, env={}, timeout=60)
            assert res.exit_code == 4 and not res.timed_out and res.error is None, res
        assert counted["wait"] == 2
    finally:
        s.close()


@pytest.mark.slow
def test_an_out_of_memory_kill_is_a_breach_even_when_the_command_exits_0(dc, tmp_path):  # noqa: F811
    _need_image(dc, images.DEFAULT_IMAGE)
    s = dsb.DockerSession(docker_client=images.client(), memory="64M")
    try:
        res = s.run(["/bin/sh", "-c", "python3 -c 'x = bytearray(400 * 2**20)'; echo survived; exit 0"],
                    cwd=tmp_path, env={"HOME": str(tmp_path)}, timeout=60)
        assert "survived" in res.output and res.error and res.error.startswith("limit exceeded: memory"), res
    finally:
        s.close()
