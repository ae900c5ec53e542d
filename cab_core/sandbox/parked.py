"""Launchers started ahead of their command, already inside its cgroup (issue 16).

Every sandboxed command runs in a cgroup of its own (its process limit and its kill
switch, :mod:`.cgroups`).  Moving a process into a cgroup v1 waits for an RCU grace
period: 40 ms on a busy machine, paid before every command.  So the local sandbox keeps,
per kind of command, one *parked* launcher ready: a shell started in a new session,
moved into a fresh cgroup under the command's limits, its output already wired to a
pipe (or a terminal it has made its controlling one), the model relay's descriptors
inherited when the command will need them, waiting on a FIFO.  When a command comes,
the harness writes the command's script (its folder, its exact environment, the
``bwrap`` line) into the FIFO; the shell ``exec``\\ s it, so the command is that very
process: same cgroup, same session, same pipe, nothing left of the launcher.  A new
launcher is parked in the background for the next command.

A parked launcher is a harness process waiting in a private folder (``0700``); nothing
of a cell reaches it before it is handed that cell's command, and each is used once.
Those still parked when the interpreter exits are killed with their cgroups.  If
there is none ready, or it died, the command is started as before.
"""

from __future__ import annotations

import atexit
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

from . import procs, quiet
from .cgroups import CellCgroup
from .handoff import exec_script, hand_over
from .limits import limit_prefix
from .piped import CTTY_SCRIPT, open_terminal

#: How long a launcher waits for its command before it gives up (a harness killed with SIGKILL
#: runs no exit handler; its launchers end by themselves, their cgroups are reaped by the next).
MAX_WAIT_S = 1800
#: How long a launcher handed its command may still take to join its cgroups.
JOIN_WAIT_S = 2.0
#: The waiting shell's last step: read the command's script from the FIFO, run it.
WAIT = f'go=$(timeout --foreground {MAX_WAIT_S} cat "$CAB_PARKED_FIFO") && unset CAB_PARKED_FIFO && eval "$go"'


class Parked:
    """One launcher waiting for its command (see the module docstring)."""

    def __init__(self, *, limits, terminal: bool, relay):
        self.limits, self.terminal, self.relay = limits, terminal, relay
        self.cgroup = CellCgroup(limits, parked=True)
        self.ctl = Path(tempfile.mkdtemp(prefix="cab-parked-"))
        self.fifo = self.ctl / "go"
        os.mkfifo(self.fifo, 0o600)
        pass_fds = relay.child_fds if relay is not None else ()
        prefix = limit_prefix(limits, self.cgroup)
        script = (prefix[2][: -len('exec "$@"')] if prefix else "")
        master = None
        if terminal:
            master, slave = open_terminal()
            fd = next(n for n in range(3, 10) if n not in pass_fds)
            script = CTTY_SCRIPT.format(fd=fd).replace('exec "$@"', "") + script
            out = {"stdout": slave, "stderr": slave}
        else:
            out = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
        try:
            argv = ["/bin/sh", "-c", script + WAIT] + ([os.ttyname(slave)] if terminal else ["cab-parked"])
            self.child = subprocess.Popen(argv, env={"PATH": "/usr/bin:/bin", "CAB_PARKED_FIFO": str(self.fifo)},
                                          cwd=str(self.ctl), stdin=subprocess.DEVNULL, start_new_session=True,
                                          close_fds=True, pass_fds=tuple(pass_fds), **out)
        except BaseException:
            if master is not None:
                os.close(master)
            self.discard()
            raise
        finally:
            if terminal:
                os.close(slave)
        self.fd = master if terminal else self.child.stdout.fileno()

    def go(self, argv: list[str], *, env: dict, cwd: Path, prelude: str = "", wait_s: float = 0.0) -> bool:
        """Hand over the command (``prelude``: shell lines run first, by the launcher); False when the
        launcher no longer waits (start the command afresh).  ``wait_s``: for a launcher just started."""
        # Joined every cgroup before they are renamed (claim): a launcher parked a moment ago may
        # still be joining the last one, and would then find its folder gone and end (exit 125).
        wait_s = max(wait_s, JOIN_WAIT_S)  # (a launcher ready long ago answers at once; a dead one stops it)
        if self.child.poll() is not None or not self._joined(wait_s):
            return False
        self.cgroup.claim()
        if not hand_over(self.fifo, prelude.encode() + exec_script(argv, env=env, cwd=str(cwd)), wait_s=wait_s,
                         alive=lambda: self.child.poll() is None):  # a launcher that died: at once, not wait_s
            return False
        shutil.rmtree(self.ctl, ignore_errors=True)
        return True

    def _joined(self, wait_s: float) -> bool:
        """Wait until the launcher is in all its cgroups (it joins them as its first steps); False if it never is."""
        deadline = time.monotonic() + wait_s
        while self.cgroup.dirs and not self.cgroup.holds(self.child.pid):
            if self.child.poll() is not None or time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    def discard(self) -> None:
        """Kill the launcher and remove its cgroup and folder (it was never used)."""
        child = getattr(self, "child", None)
        if child is not None and child.poll() is None:
            procs.kill_group(child.pid)
            child.wait()
        if child is not None and child.stdout is not None:
            child.stdout.close()
        elif getattr(self, "fd", None) is not None:
            os.close(self.fd)
        self.cgroup.close()
        if self.relay is not None:
            self.relay.close()
        shutil.rmtree(self.ctl, ignore_errors=True)


class Pool:
    """At most one parked launcher per kind of command, refilled in the background after each use.

    Every launcher is started by one long-lived thread (the *spawner*): ``bwrap --die-with-parent``
    dies with the *thread* that started its process (``PR_SET_PDEATHSIG``), so a launcher started
    by a short-lived thread would take its sandbox down when that thread ends, and a sandbox
    killed half-way leaves its output open behind it.
    """

    def __init__(self):
        self._ready: dict = {}
        self._filling: set = set()
        self._lock = threading.Lock()
        self._jobs: "queue.SimpleQueue" = queue.SimpleQueue()
        self._spawner: Optional[threading.Thread] = None
        self._pid = os.getpid()

    def take(self, key: tuple, make, *, refill: bool = True) -> Optional[Parked]:
        """The parked launcher for ``key`` (None if none is ready); another is parked for next time
        (``refill=False``: when the caller calls :meth:`refill`, e.g. once its command has ended)."""
        with self._lock:
            parked = self._ready.pop(key, None)
        if refill:
            self.refill(key, make)
        return parked

    def refill(self, key: tuple, make) -> None:
        """Park a launcher for ``key`` in the background, unless one is ready or being parked."""
        with self._lock:
            if _closed or key in self._filling or key in self._ready:
                return
            self._filling.add(key)

        def fill() -> None:
            try:
                parked = make()
            except Exception:
                parked = None
            with self._lock:
                self._filling.discard(key)
                if parked is not None:
                    self._ready[key] = parked
            if parked is not None and _closed:
                self.close()

        def submit() -> None:  # parked while a command runs (see .quiet), not beside the next cell's start
            if _closed:
                with self._lock:
                    self._filling.discard(key)
                return
            self._submit(fill)

        quiet.later(submit, tag="refill")

    def make(self, make, timeout: float = 30.0) -> Optional[Parked]:
        """A launcher started now by the spawner (None if it could not be)."""
        done, box = threading.Event(), {}

        def job() -> None:
            try:
                box["parked"] = make()
            except Exception:
                pass
            finally:
                done.set()

        self._submit(job)
        if not done.wait(timeout):
            return None
        return box.get("parked")

    def _submit(self, job) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's spawner is not here
                self._pid, self._spawner, self._ready, self._filling = os.getpid(), None, {}, set()
                self._jobs = queue.SimpleQueue()
            if self._spawner is None or not self._spawner.is_alive():
                self._spawner = threading.Thread(target=self._spawn, args=(self._jobs,), name="cab-spawner",
                                                 daemon=True)
                self._spawner.start()
            self._jobs.put(job)

    @staticmethod
    def _spawn(jobs) -> None:
        while True:
            job = jobs.get()
            try:
                job()
            except Exception:
                pass

    def settle(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until the launchers being started now are started."""
        with self._lock:
            running = self._spawner is not None and self._spawner.is_alive() and self._pid == os.getpid()
        if running:
            done = threading.Event()
            self._jobs.put(done.set)
            done.wait(timeout)

    def close(self) -> None:
        with self._lock:
            ready, self._ready = list(self._ready.values()), {}
        for parked in ready:
            parked.discard()


POOL = Pool()
_closed = False


def _at_exit() -> None:
    global _closed
    _closed = True
    POOL.settle(5)  # a launcher being started as the harness ends (a refill) is discarded too, folder and all
    POOL.close()


atexit.register(_at_exit)
