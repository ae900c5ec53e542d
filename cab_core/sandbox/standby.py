"""Docker containers started before their command is known (issue 16).

Creating and starting a container costs the docker daemon a few hundred milliseconds,
twice per cell (the agent, then the verify step, each in a fresh container so nothing
the agent started or wrote outside its folders reaches the tests).  The verify
container's folders are known when the session opens, so it is created and started
*while the agent runs* (:meth:`DockerSession.prewarm`): its first process waits on a
FIFO in a control folder of its own, mounted read-only; when the verify command
comes, the harness writes a script with the command and its environment into the
FIFO, and the waiting shell ``exec``\\ s it (the script is never a file).  The container is
still a fresh one, separate from the agent's, with the same mounts, limits, user and
image as a container made for that command; a command whose mounts differ, or a
standby that died, gets a fresh container as before.

The waiter is the container's main process under the same ``timeout -s KILL`` backstop
(sized for the wait plus the command), so a harness that dies leaves nothing running
past it; an unused standby is removed when the session closes.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from pathlib import Path

from .handoff import exec_script, hand_over

CTL_IN = "/run/cab-ctl"
#: The waiting first process: blocks on the FIFO until the harness writes the command's script
#: into it, then runs that script (it never touches a disk the command could read).
WAITER = 'script=$(cat "$0/go") && exec /bin/sh -c "$script"'


class Standby:
    """One started container waiting for its command; ``chunks`` holds its output as it comes."""

    def __init__(self, container, ctl: Path, chunks: queue.Queue, reader: threading.Thread):
        self.container, self.ctl, self.chunks, self.reader = container, ctl, chunks, reader
        self.used = False

    def go(self, command: list[str], env: dict, workdir: str) -> bool:
        """Hand over the command; False when the container no longer waits (use a fresh one)."""
        if not hand_over(self.ctl / "go", exec_script(command, env=env, cwd=workdir)):
            return False
        self.used = True
        return True

    def discard(self) -> None:
        shutil.rmtree(self.ctl, ignore_errors=True)


def control_folder() -> Path:
    """A fresh control folder holding the FIFO the waiter blocks on."""
    ctl = Path(tempfile.mkdtemp(prefix="cab-standby-"))
    os.chmod(ctl, 0o755)
    os.mkfifo(ctl / "go", 0o644)
    return ctl


def mount_key(mounts: list) -> list:
    return sorted((m.get("Target"), m.get("Source"), bool(m.get("ReadOnly")), m.get("Type")) for m in mounts)


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

