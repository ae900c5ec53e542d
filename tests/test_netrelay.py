"""The model relay opened by the harness in the sandbox's network namespace (issue 16).

It replaces the in-sandbox forwarder where the machine allows it; it must keep what the
forwarder guaranteed (the agent reaches the proxy and nothing else, a half-close is
passed on, big bodies arrive whole) and must not hand the agent a way to exhaust the
harness (thousands of connections meet a cap; the harness's threads stay bounded).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cab_core.sandbox import netrelay
from cab_core.sandbox.local import LocalSession, bwrap_path

pytestmark = pytest.mark.skipif(not bwrap_path() or not netrelay.supported(bwrap_path()),
                                reason="this machine does not let the harness enter bubblewrap's network namespace")


class EchoUpper:
    """A Unix-socket server standing in for the proxy: answers each connection with its input upper-cased."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(256)
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    @staticmethod
    def _one(conn):
        data = b""
        try:
            while chunk := conn.recv(65536):  # until the agent's half-close
                data += chunk
            conn.sendall(data.upper())
        except OSError:  # the relay went away (the failure test)
            pass
        conn.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def box(tmp_path):
    server = EchoUpper(tmp_path / "proxy.sock")
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    yield LocalSession(proxy_socket=server.path, proxy_port=41234), work, home, server
    server.close()


def _python(code: str) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", code]


CLIENT = """
import socket
s = socket.create_connection(("127.0.0.1", 41234))
s.sendall(b"x" * 3_000_000 + b"end")
s.shutdown(socket.SHUT_WR)
data = b""
while chunk := s.recv(65536):
    data += chunk
print(len(data), data[-3:].decode())
"""


def test_a_command_reaches_the_proxy_through_the_harness_relay_with_a_half_close(box):
    session, work, home, server = box
    r = session.run(_python(CLIENT), cwd=work, env={"PATH": os.environ["PATH"]}, timeout=30, writable=[home])
    assert r.exit_code == 0, r.output
    assert "3000003 END" in r.output and server.accepted == 1
    assert session.describe()["model_relay"].startswith("harness")


def test_the_sandbox_sees_no_proxy_socket_and_no_forwarder(box):
    session, work, home, _ = box
    r = session.run(["/bin/sh", "-c", "ls /run/cab 2>&1; ps -e -o args 2>/dev/null | grep -c forwarder"], cwd=work,
                    env={"PATH": os.environ["PATH"]}, timeout=30, writable=[home])
    assert "proxy.sock" not in r.output and "forwarder.py" not in r.output


FLOOD = """
import socket, time
held = []
for i in range(2000):
    try:
        held.append(socket.create_connection(("127.0.0.1", 41234), timeout=2))
    except OSError:
        pass
print("opened", len(held))
time.sleep(1)
"""


@pytest.mark.slow
def test_a_connection_flood_meets_the_cap_and_leaves_the_harness_bounded(box):
    session, work, home, server = box
    threads_before = threading.active_count()
    t0 = time.monotonic()
    r = session.run(_python(FLOOD), cwd=work, env={"PATH": os.environ["PATH"]}, timeout=60, writable=[home])
    assert r.exit_code == 0, r.output
    assert time.monotonic() - t0 < 30
    assert server.accepted <= netrelay.MAX_CONNECTIONS
    assert threading.active_count() <= threads_before + 1 + netrelay.MAX_CONNECTIONS  # the echo server's, not the relay's
    assert not [t for t in threading.enumerate() if t.name.startswith("cab-netns")]  # the relay is gone


def test_a_bubblewrap_that_fails_before_its_sandbox_exists_is_reported_not_hung(box, tmp_path):
    session, work, home, _ = box
    t0 = time.monotonic()
    r = session.run(["/bin/true"], cwd=tmp_path / "missing-folder", env={"PATH": os.environ["PATH"]}, timeout=30,
                    writable=[home])
    assert r.exit_code != 0 and time.monotonic() - t0 < 10


def test_the_forwarder_stays_available(tmp_path):
    """``CAB_FORWARDER=1`` keeps the in-sandbox forwarder (machines where setns is refused use it)."""
    code = (
        "import os, socket, sys; from pathlib import Path\n"
        "from cab_core.sandbox.local import LocalSession\n"
        f"p = Path({str(tmp_path)!r}); (p / 'w').mkdir(); (p / 'h').mkdir()\n"
        "s = socket.socket(socket.AF_UNIX); s.bind(str(p / 'proxy.sock')); s.listen()\n"
        "sess = LocalSession(proxy_socket=p / 'proxy.sock', proxy_port=41235)\n"
        "r = sess.run(['/bin/true'], cwd=p / 'w', env={'PATH': os.environ['PATH']}, timeout=30, writable=[p / 'h'])\n"
        "print(r.exit_code, sess.describe()['model_relay'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "CAB_FORWARDER": "1"}, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "0 forwarder (in the sandbox)", out.stderr[-2000:]


def test_a_relay_that_fails_is_the_environments_error_not_the_agents(box, monkeypatch):
    from cab_core.errors import InfraError

    def broken(self, sel):
        raise RuntimeError("relay bug")

    monkeypatch.setattr(netrelay._Pipe, "step", broken)
    session, work, home, _ = box
    with pytest.raises(InfraError, match="^environment: the model relay of the sandbox failed: RuntimeError: relay bug"):
        session.run(_python(CLIENT), cwd=work, env={"PATH": os.environ["PATH"]}, timeout=30, writable=[home])
