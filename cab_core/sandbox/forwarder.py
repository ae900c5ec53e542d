"""Relay 127.0.0.1:PORT inside a network-less sandbox to the recording proxy's Unix socket.

Run inside the sandbox as ``python -I -S forwarder.py PORT SOCKET -- ARGV...``: it listens
on the sandbox's own loopback, starts ARGV as its child, relays every connection to
the socket until the child exits, and exits with the child's status.

It starts on every agent command, so it is built to cost little (issue 16): only
built-in C modules (``posix``, ``_socket``, ``select``: no ``os``, ``socket``,
``signal`` or ``asyncio``, whose imports took longer than the agent's own start on a
loaded machine), and nothing is done for a connection until one arrives.  The
listening socket is bound before anything else, so connections queue in the kernel
from the start.  The relay process (its own process group, killed whole when the
child exits) forks per connection; each direction is copied by a process of its own
with blocking reads and writes, so a slow reader on one side can never stall the
other, and an end of input is passed on as a half-close (``shutdown(SHUT_WR)``).
Standard library only, so it runs under any Python 3 the sandbox can see.
"""

import _socket
import posix
import sys

SIGKILL = 9
SIGCHLD = 17


def _copy(src, dst) -> None:
    """Copy ``src`` to ``dst`` until the end; a failure on either side shuts both down."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            while data:
                sent = dst.send(data)
                data = data[sent:]
    except OSError:
        for sock in (src, dst):
            try:
                sock.shutdown(_socket.SHUT_RDWR)
            except OSError:
                pass
        return
    try:
        dst.shutdown(_socket.SHUT_WR)
    except OSError:
        pass


def _handle(conn, path: str) -> None:
    up = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        up.connect(path)
    except OSError:
        return
    if posix.fork() == 0:
        _copy(up, conn)  # the proxy's answer to the agent
    else:
        _copy(conn, up)  # the agent's request to the proxy


def _relay(listener, path: str) -> None:
    import _signal

    posix.setpgid(0, 0)
    _signal.signal(SIGCHLD, _signal.SIG_IGN)  # handlers are reaped by the kernel
    while True:
        try:
            fd, _ = listener._accept()
        except OSError:
            continue
        if posix.fork() == 0:
            listener.close()
            try:
                _handle(_socket.socket(fileno=fd), path)
            finally:
                posix._exit(0)
        posix.close(fd)


def _exec(command) -> None:
    """``execvp``: search PATH as the shell would (``os`` is not imported here)."""
    name = command[0]
    if "/" in name:
        posix.execv(name, command)
    denied = None
    for folder in (posix.environ.get(b"PATH") or b"/usr/bin:/bin").split(b":"):
        try:
            posix.execv((folder or b".").decode("utf-8", "surrogateescape") + "/" + name, command)
        except PermissionError as exc:
            denied = denied or exc
        except OSError:
            pass
    raise denied or FileNotFoundError(2, "No such file or directory", name)


def main(argv) -> None:
    port, path = int(argv[0]), argv[1]
    command = argv[3:] if argv[2] == "--" else argv[2:]
    listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    listener.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    relay = posix.fork()
    if relay == 0:
        try:
            _relay(listener, path)
        finally:
            posix._exit(0)
    try:
        posix.setpgid(relay, relay)  # as the relay does itself: whichever runs first
    except OSError:
        pass
    listener.close()
    child = posix.fork()
    if child == 0:
        try:
            _exec(command)
        except OSError as exc:
            sys.stderr.write(f"cab: cannot start {command[0]}: {exc}\n")
        posix._exit(127)
    while True:
        try:
            _, status = posix.waitpid(child, 0)
            break
        except InterruptedError:  # pragma: no cover - retried by Python itself since 3.5
            continue
    try:
        posix.killpg(relay, SIGKILL)
    except OSError:
        posix.kill(relay, SIGKILL)  # it had not made its group yet
    if posix.WIFSIGNALED(status):
        sys.exit(128 + posix.WTERMSIG(status))
    sys.exit(posix.WEXITSTATUS(status))


if __name__ == "__main__":
    main(sys.argv[1:])
