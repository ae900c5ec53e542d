"""The model relay from the harness side: a socket in the command's own network namespace (issue 16).

A command in the local sandbox has no network but its own loopback; the agent in it
reaches the recording proxy at ``127.0.0.1:PORT``.  The in-sandbox forwarder
(:mod:`cab_core.sandbox.forwarder`) costs a Python start before every agent command.
Where the harness may enter the sandbox's network namespace (root, bwrap not in a
user namespace: the CI and container case) it does without one:

1. bubblewrap is started with ``--info-fd`` (it reports the sandbox's first process)
   and ``--block-fd`` (it waits before running the command);
2. a short-lived harness thread joins that process's network namespace (``setns``),
   binds and listens on ``127.0.0.1:PORT`` there, and leaves: the socket stays in the
   sandbox's namespace;
3. the command is let go, and one harness thread relays every connection on that
   socket to the proxy's Unix socket, which the sandbox no longer sees at all.

The relay is one thread with a selector, not threads per connection: an agent opening
thousands of connections meets a cap (:data:`MAX_CONNECTIONS`, later ones are closed
at once) and bounded buffers, so it cannot exhaust the harness.  Nothing the command
does can reach the harness's own network namespace: the only socket it sees is the
listening one.  :func:`supported` says whether this machine allows it (probed once
per process with a real bubblewrap run); ``CAB_FORWARDER=1`` keeps the forwarder.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import os
import selectors
import socket
import subprocess
import threading
import time
from typing import Optional

from ..errors import InfraError

#: Connections relayed at once; one more is closed as soon as it is accepted.
MAX_CONNECTIONS = 64
#: Bytes buffered per direction of a connection before its reader is paused.
BUFFER = 256 * 1024
CLONE_NEWNET = 0x40000000


class RelayError(InfraError):
    """The relay could not be opened in the command's namespace (the harness's side, never the agent's)."""


class NetnsRelay:
    """One command's relay: ``child_fds`` go to bubblewrap, ``attach(child)`` once it started."""

    def __init__(self, target: str, port: int):
        self.target, self.port = str(target), int(port)
        self._info_r, self._info_w = os.pipe()
        self._block_r, self._block_w = os.pipe()
        self._listener: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False
        self.connections = 0
        self.refused = 0
        #: Why the relay stopped serving before the command ended (a harness failure), else None.
        self.failure: Optional[str] = None
        self._pid: Optional[int] = None  # the sandbox's first process (0: none came)

    @property
    def child_fds(self) -> tuple[int, int]:
        """(info fd, block fd) as bubblewrap's ``--info-fd`` and ``--block-fd``."""
        return self._info_w, self._block_r

    def attach(self, child: subprocess.Popen, timeout: float = 30.0) -> None:
        """Open the socket in the sandbox's namespace, start relaying, then let the command run (once)."""
        if self._listener is not None:
            return
        try:
            pid = self._child_pid(timeout)
            if pid is not None:  # None: bubblewrap failed before its sandbox existed (its own error says why)
                self._listener = _listen_in(pid, self.port)
                self._thread = threading.Thread(target=self._serve, name="cab-netns-relay", daemon=True)
                self._thread.start()
        finally:
            self._let_go()

    def prepare(self, timeout: float = 30.0) -> None:
        """For a sandbox built ahead (:mod:`.prebuilt`): learn its first process and let bubblewrap
        go on (its command only waits); :meth:`attach` later opens the socket (``target``, ``port``
        known by then) before the command is handed over."""
        try:
            self._child_pid(timeout)
        finally:
            self._let_go()

    def _child_pid(self, timeout: float) -> Optional[int]:
        if self._pid is None:
            for fd in (self._info_w, self._block_r):  # the child has them now
                if fd >= 0:
                    os.close(fd)
            self._info_w = self._block_r = -1
            self._pid = _read_child_pid(self._info_r, timeout) or 0
        return self._pid or None

    def _let_go(self) -> None:
        if self._block_w < 0:
            return
        try:
            os.write(self._block_w, b"g")  # the command starts (also when bubblewrap is already gone)
        except OSError:
            pass
        os.close(self._block_w)
        self._block_w = -1

    def close(self) -> None:
        """Stop relaying and close every socket and pipe (idempotent)."""
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for fd in (self._info_r, self._info_w, self._block_r, self._block_w):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._info_r = self._info_w = self._block_r = self._block_w = -1
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._listener = None

    # ------------------------------------------------------------------ the loop
    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        self._listener.setblocking(False)
        sel.register(self._listener, selectors.EVENT_READ, "accept")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        pipes: set[_Pipe] = set()
        try:
            while not self._stopping:
                for key, _ in sel.select():
                    if key.data == "wake":
                        return
                    if key.data == "accept":
                        self._accept(sel, pipes)
                    elif key.data in pipes:  # (a pipe closed earlier in this round is skipped)
                        pipe = key.data
                        pipe.step(sel)
                        if pipe.done:
                            pipe.close(sel)
                            pipes.discard(pipe)
        except Exception as exc:  # the harness's own failure: the session reports it as the environment's
            self.failure = f"{type(exc).__name__}: {exc}"
        finally:
            for pipe in list(pipes):
                pipe.close(sel)
            sel.close()

    def _accept(self, sel, pipes: set) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        if len(pipes) >= MAX_CONNECTIONS:
            self.refused += 1
            conn.close()
            return
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        up.setblocking(False)
        try:
            up.connect(self.target)
        except OSError:  # the proxy is gone or its queue is full: the agent sees a closed connection
            up.close()
            conn.close()
            return
        conn.setblocking(False)
        self.connections += 1
        pipe = _Pipe(conn, up)
        pipes.add(pipe)
        pipe.register(sel)


class _Pipe:
    """Both directions of one relayed connection, with bounded buffers and half-closes."""

    def __init__(self, a: socket.socket, b: socket.socket):
        self.socks = (a, b)
        self.buf = {a: bytearray(), b: bytearray()}  # bytes read from the key, waiting for the other side
        self.eof = {a: False, b: False}
        self.shut = {a: False, b: False}  # the other side was told the end (SHUT_WR)
        self.done = False

    def other(self, sock):
        return self.socks[1] if sock is self.socks[0] else self.socks[0]

    def register(self, sel) -> None:
        self.registered: set = set()
        self._update(sel)

    def _update(self, sel) -> None:
        """Watch each side for what it can do now; a side with nothing to do is not watched."""
        for sock in self.socks:
            events = self._events(sock)
            if events and sock in self.registered:
                sel.modify(sock, events, self)
            elif events:
                sel.register(sock, events, self)
                self.registered.add(sock)
            elif sock in self.registered:
                sel.unregister(sock)
                self.registered.discard(sock)

    def _events(self, sock) -> int:
        events = 0
        if not self.eof[sock] and len(self.buf[sock]) < BUFFER:
            events |= selectors.EVENT_READ
        if self.buf[self.other(sock)]:
            events |= selectors.EVENT_WRITE
        return events

    def step(self, sel) -> None:
        try:
            for sock in self.socks:
                self._read(sock)
            for sock in self.socks:
                self._write(sock)
        except OSError:
            self.done = True
            return
        self.done = all(self.shut.values())
        if not self.done:
            self._update(sel)

    def _read(self, sock) -> None:
        if self.eof[sock] or len(self.buf[sock]) >= BUFFER:
            return
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        if data:
            self.buf[sock] += data
        else:
            self.eof[sock] = True

    def _write(self, sock) -> None:
        """Write to ``sock`` what the other side sent; pass its end on once all is written."""
        src = self.other(sock)
        pending = self.buf[src]
        if pending:
            try:
                sent = sock.send(pending)
            except (BlockingIOError, InterruptedError):
                return
            del pending[:sent]
        if not pending and self.eof[src] and not self.shut[src]:
            self.shut[src] = True
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self, sel) -> None:
        for sock in self.socks:
            if sock in self.registered:
                self.registered.discard(sock)
                try:
                    sel.unregister(sock)
                except (KeyError, ValueError):
                    pass
            sock.close()


def _read_child_pid(fd: int, timeout: float) -> Optional[int]:
    """The sandbox's first process, from bubblewrap's ``--info-fd`` JSON (None if it ended first)."""
    data = b""
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    try:
        while True:
            try:
                return int(json.loads(data)["child-pid"])
            except (ValueError, KeyError, TypeError):
                pass
            if not sel.select(timeout):
                raise RelayError(f"environment: bubblewrap did not report its sandbox within {timeout:g} s")
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            data += chunk
    finally:
        sel.close()


def _listen_in(pid: int, port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:``port`` in ``pid``'s network namespace."""
    box: dict = {}

    def enter() -> None:  # a thread of its own: setns changes only the calling thread's namespace
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc().setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            finally:
                os.close(fd)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # bubblewrap reports its sandbox before the sandbox has brought its loopback up (it
            # does so before it waits on --block-fd): 127.0.0.1 exists a moment later.
            deadline = time.monotonic() + 10
            while True:
                try:
                    sock.bind(("127.0.0.1", port))
                    break
                except OSError as exc:
                    if exc.errno != errno.EADDRNOTAVAIL or time.monotonic() > deadline:
                        sock.close()
                        raise
                    time.sleep(0.001)
            sock.listen(128)
            box["sock"] = sock
        except OSError as exc:
            box["error"] = exc

    thread = threading.Thread(target=enter, name="cab-netns-enter", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise RelayError(f"environment: cannot open the model relay in the sandbox: {box['error']}")
    return box["sock"]


@functools.lru_cache(maxsize=1)
def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setns.argtypes = (ctypes.c_int, ctypes.c_int)
    return libc


@functools.lru_cache(maxsize=4)
def supported(bwrap: str) -> bool:
    """Whether the harness may open sockets in bubblewrap's network namespaces here (probed once)."""
    if os.environ.get("CAB_FORWARDER") == "1" or not _has_setns():
        return False
    relay = NetnsRelay("/nonexistent", 9)
    try:
        info_w, block_r = relay.child_fds
        child = subprocess.Popen([bwrap, "--ro-bind", "/", "/", "--unshare-net", "--die-with-parent",
                                  "--info-fd", str(info_w), "--block-fd", str(block_r), "--", "true"],
                                 pass_fds=(info_w, block_r), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            relay.attach(child, timeout=10)
            ok = relay._listener is not None
        except (RelayError, OSError):
            ok = False
        child.wait(timeout=10)
        return ok
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        relay.close()


def _has_setns() -> bool:
    try:
        return hasattr(_libc(), "setns")
    except OSError:
        return False


