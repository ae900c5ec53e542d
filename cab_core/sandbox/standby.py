"""Docker containers started before their command is known (issue 16).

Creating and starting a container costs the docker daemon a few hundred milliseconds,
twice per cell (the agent, then the verify step, each in a fresh container so nothing
the agent started or wrote outside its folders reaches the tests).  So every command
of the docker sandbox runs in a *standby*: a container whose first process waits on a
FIFO, then ``exec``\\ s the script the harness writes into it (the command, its folder
and exactly its environment; the script is never a file).  A standby is made:

- ahead of time, while something else runs: the verify step's while the agent runs
  (:meth:`DockerSession.prewarm`), the next cell's agent and verify containers while
  this cell runs (:mod:`.dockerpool`);
- or on the spot, when none with the command's configuration is waiting.

Either way the container is the same: the same image, mounts, limits, user and
network as any other made for that command, its ``/run/cab`` a read-only folder of
its own holding the FIFO (``go``) and, for a command that reaches the model proxy,
cab's forwarder and a hard link to the proxy's socket (made at hand-over: the socket
exists only once the cell's proxy runs).  So a prepared container cannot be told from
one made for its command, and a standby that no longer waits (or whose configuration
differs) is simply replaced by a fresh one.

The waiter gives up after its own wait (``timeout N cat``), and the script runs the
command under the usual ``timeout -s KILL`` backstop, so a harness that dies leaves
nothing running past them.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

from . import forwarder
from .handoff import exec_script, hand_over
from .pty import COLS, ROWS

RUN_IN = "/run/cab"
#: Seconds any standby waits for its command before it gives up (its container then ends): one
#: figure for all, so no container's first process tells how, or for what, it was made.
WAIT_S = 7200
#: The waiting first process: blocks on the FIFO until the harness writes the command's script
#: into it, then runs that script (it never touches a disk the command could read).
WAITER = f'script=$(timeout {WAIT_S} cat {RUN_IN}/go) && exec /bin/sh -c "$script"'
#: What docker gives a container's processes unless the command sets them (the script sets exactly its env).
DOCKER_ENV = {"HOSTNAME": "cab", "TERM": "xterm"}
#: Seconds after its start a standby's waiter may take to open its FIFO.
READY_S = 15


class Standby:
    """One started container waiting for its command; ``chunks`` holds its output as it comes."""

    def __init__(self, container, folder: Path, chunks: queue.Queue, reader: threading.Thread, fingerprint: str,
                 identities: Optional[dict] = None):
        self.container, self.folder, self.chunks, self.reader = container, folder, chunks, reader
        self.fingerprint = fingerprint
        self.identities = identities or {}  # mounted folder -> (device, inode) when it was mounted
        self.started = time.monotonic()
        self.used = False

    def go(self, command: list[str], env: dict, workdir: str, proxy_socket: Optional[Path] = None) -> bool:
        """Hand over the command; False when the container no longer waits (or the proxy cannot be linked)."""
        if self.used or _identities(self.identities) != self.identities:
            return False  # used, or a folder it mounted was replaced since (renamed over): it would see the old one
        if (proxy_socket is not None) != (self.folder / "forwarder.py").exists():
            return False  # made for a command that reaches the proxy (or not): a fresh one is made as this command's
        if proxy_socket is not None and not link_proxy(self.folder, proxy_socket):
            return False
        script = exec_script(command, env={**DOCKER_ENV, **env}, cwd=workdir)
        # Just started, its shell may not have opened the FIFO yet: no reader is "not yet" for a
        # few seconds, and "no longer" after (it gave up, or was killed).
        while not hand_over(self.folder / "go", script):
            if time.monotonic() > self.started + READY_S:
                return False
            time.sleep(0.002)
        self.used = True
        return True

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def fingerprint(kwargs: dict) -> str:
    """What must be equal for a standby to serve a command: every create argument but the command's own."""
    mounts = sorted((m.get("Target"), m.get("Source"), bool(m.get("ReadOnly")), m.get("Type")) for m in kwargs["mounts"])
    rest = sorted((k, repr(v)) for k, v in kwargs.items() if k not in ("command", "environment", "labels", "mounts"))
    return repr((mounts, rest))


def run_folder(near: Optional[Path] = None, *, proxied: bool = False) -> Path:
    """A fresh folder for a container's ``/run/cab``: the FIFO, and the forwarder when it is proxied.

    ``near``: the folder to make it in (where the proxy's socket will be: a hard link
    cannot cross file systems).
    """
    folder = Path(tempfile.mkdtemp(prefix="cab-run-", dir=near))
    os.chmod(folder, 0o755)
    os.mkfifo(folder / "go", 0o600)
    if proxied:
        shutil.copyfile(Path(forwarder.__file__).resolve(), folder / "forwarder.py")
    return folder


def link_proxy(folder: Path, socket: Path) -> bool:
    """Make the proxy's socket appear in the container's ``/run/cab`` (it exists only once the proxy runs)."""
    try:
        os.link(socket, folder / "proxy.sock")
    except FileExistsError:
        return os.path.samefile(socket, folder / "proxy.sock")
    except OSError:  # another file system, or the proxy is gone
        return False
    return True


def make(client, kwargs: dict, *, proxied: bool, near: Optional[Path] = None) -> Standby:
    """Create and start a standby for commands of ``kwargs`` (``containers.create``'s); raises on failure."""
    from docker.types import Mount

    identities = _identities({m["Source"]: None for m in kwargs["mounts"] if not m.get("ReadOnly")})
    folder = run_folder(near, proxied=proxied)
    container = None
    try:
        container = client.containers.create(**{
            **kwargs, "command": ["/bin/sh", "-c", WAITER], "environment": {},
            "mounts": [*kwargs["mounts"], Mount(RUN_IN, str(folder), type="bind", read_only=True)]})
        chunks, reader = attach(container)
        container.start()
        try:
            container.resize(height=ROWS, width=COLS)
        except Exception:  # pragma: no cover - the daemon refused: the terminal keeps docker's size
            pass
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if container is not None:
            try:
                container.remove(force=True)
            except Exception:
                pass
        raise
    return Standby(container, folder, chunks, reader, fingerprint(kwargs), identities)


def _identities(folders: dict) -> dict:
    """folder -> (device, inode) now (None when it is gone)."""
    found = {}
    for path in folders:
        try:
            st = os.stat(path)
            found[path] = (st.st_dev, st.st_ino)
        except OSError:
            found[path] = None
    return found


def attach(container) -> tuple[queue.Queue, threading.Thread]:
    """Attach to ``container`` (before it starts, log replayed) and pump its output into a queue."""
    chunks: queue.Queue = queue.Queue()
    stream = container.attach(stdout=True, stderr=True, stream=True, logs=True)

    def pump():
        try:
            for chunk in stream:
                chunks.put(chunk)
        except Exception:  # the stream breaks when the container is killed
            pass
        finally:
            chunks.put(None)

    reader = threading.Thread(target=pump, name="cab-docker-attach", daemon=True)
    reader.start()
    return chunks, reader
