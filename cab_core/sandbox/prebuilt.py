"""A local sandbox built before its command is known: the verify step's, made while the agent runs (issue 16).

Building a bubblewrap sandbox (namespaces, the allow-list's mounts, ``/etc``'s and
``/proc``'s covers, the seccomp filter) is most of a sandboxed command's start-up.  The
verify step's sandbox is known before the agent ends: its folders (the verify copy,
emptied and filled in place, and its HOME), its environment and its command's shape
(``/bin/sh -c TESTS``).  So the runner asks for it ahead (``prewarm``): a parked
launcher (:mod:`.parked`, already in its cgroup) opens a private FIFO on descriptor
:data:`FD` and is handed the ``bwrap`` line whose command is a shell waiting on that
descriptor.  Nothing is mounted for it: the sandbox looks exactly as a fresh one, and
the descriptor is closed before the command runs.

When the command comes, the sandbox is used only if the ``bwrap`` line built for the
command *now* (same mounts, covers, limits, folders; the view checked again) is, up to
its command, the one it was built with (:func:`split`); the waiting shell is then handed
its command (its folder, exactly its environment) and ``exec``\\ s it.  The waiter is a
Python started with ``-I -S`` (nothing from the environment or the folder is read) that
``execve``\\ s the command itself: one ``exec`` between the hand-over and the command, where a
shell waiter needs ``head``, ``timeout`` and ``env``'s (~5 ms on a busy machine, twice a
cell).  It puts back the signal dispositions Python changes (SIGPIPE, SIGXFSZ), so the
command starts as a fresh one does; without a system ``python3`` the shell waiter serves.  Otherwise, or when the sandbox died or never got ready, it is
discarded and the command starts afresh.  It waits at most ``wait_s`` seconds.

The next cell's verify sandbox is built beside the last cell's tests (:mod:`.localpool`); the
next cell does not wait for that build: it tells the sandbox its own view
(:meth:`Prebuilt.unless_serving`), and a sandbox of another view, once built, is replaced
by this cell's in the same thread.  The next cell's agent sandbox is built the same way,
with a launcher
of the agent's kind: its terminal, and its model relay (:mod:`.netrelay`), whose
sandbox is learnt while it is built and whose socket is opened before the command is
handed over.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable, Optional, Sequence

from .handoff import exec_script, hand_over

#: The descriptor the waiting shell reads its command from (closed before the command runs).
FD = 8
#: How long building a sandbox waits for its launcher and for bubblewrap.
READY_WAIT_S = 5.0
#: How long a command waits for its sandbox still being built before starting afresh (a build
#: stuck waiting for a launcher that never read its command kept a cell's agent 4.3 s).
MATCH_WAIT_S = 2.0


def split(full: Sequence[str]) -> tuple[list[str], list[str]]:
    """A ``bwrap`` line as (everything up to its command, the command): cut after ``--chdir DIR --``."""
    cut = list(full).index("--chdir") + 3
    return list(full[:cut]), list(full[cut:])


def key_of(full: Sequence[str]) -> list[str]:
    """What must match for a sandbox to serve a command: the line up to its command, without the
    relay's descriptor numbers (the launcher's own)."""
    head, key, skip = split(full)[0], [], False
    for arg in head:
        if skip:
            skip = False
        elif arg in ("--info-fd", "--block-fd"):
            skip = True
        else:
            key.append(arg)
    return key


def waiter(wait_s: float) -> str:
    """The waiting shell's script: read the command's script (its length, a line, then itself), run it."""
    read = "IFS= read -r n && head -c \"$n\""
    return f"go=$(timeout --foreground {int(wait_s)} sh -c '{read}' <&{FD}) && exec {FD}<&- && eval \"$go\""


#: The Python waiter: wait (at most argv[1] seconds) for "LENGTH\\n" + a JSON job on FD, then run it.
PY_WAITER = f"""import json, os, select, signal, sys
if not select.select([{FD}], [], [], float(sys.argv[1]))[0]:
    sys.exit(124)
data = b""
while True:
    head, sep, rest = data.partition(b"\\n")
    if sep and len(rest) >= int(head):
        break
    chunk = os.read({FD}, 65536)
    if not chunk:
        sys.exit(126)
    data += chunk
os.close({FD})
job = json.loads(rest[:int(head)])
try:
    os.chdir(job["cwd"])
except OSError:
    sys.exit(126)
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
try:
    os.execvpe(job["argv"][0], job["argv"], job["env"])
except OSError as exc:
    sys.stderr.write(f"cab: {{job['argv'][0]}}: {{exc.strerror}}\\n")
    sys.exit(127 if isinstance(exc, FileNotFoundError) else 126)
"""


@functools.lru_cache(maxsize=1)
def system_python() -> Optional[str]:
    """The system's ``python3`` (under ``/usr``, which every local sandbox shows), or None."""
    for path in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(path, os.X_OK):
            return path
    return None


def waiting_command(wait_s: float) -> list[str]:
    """The command a sandbox built ahead waits with (see the module docstring)."""
    python = system_python()
    if python is None:
        return ["/bin/sh", "-c", waiter(wait_s)]
    return [python, "-I", "-S", "-c", PY_WAITER, str(int(wait_s))]


def job(argv: Sequence[str], *, env: dict, cwd: Path, python: bool) -> bytes:
    """What the waiter is handed: the Python waiter's JSON job, or the shell waiter's script; length first."""
    if python:
        body = json.dumps({"argv": [str(a) for a in argv], "env": dict(env), "cwd": str(cwd)}).encode()
    else:
        body = exec_script(argv, env=env, cwd=str(cwd))
    return f"{len(body)}\n".encode() + body


class Prebuilt:
    """One sandbox waiting for its command (see the module docstring)."""

    def __init__(self, *, cwd: Path, launcher_for: Callable, wrap: Callable[[list[str], Optional[tuple]], list[str]],
                 env: dict, wait_s: float, offline: bool = False):
        self.cwd = Path(cwd)
        self.ctl = Path(tempfile.mkdtemp(prefix="cab-prebuilt-"))
        self.fifo = self.ctl / "go"
        os.mkfifo(self.fifo, 0o600)
        self.launcher = None
        #: Built for a command that never reaches the model (the verify step): it serves one that could.
        self.offline = offline
        self.key: Optional[list[str]] = None
        self.python = False  # the waiter is the Python one (else the shell's)
        self._recipe = (launcher_for, wrap, env, wait_s)
        self._lock = threading.Lock()
        self._built = False  # the build thread is past its last build (see unless_serving)
        self._instead: Optional[tuple[list[str], Callable[[], "Prebuilt"]]] = None
        self._thread = threading.Thread(target=self._builds, name="cab-prebuilt", daemon=True)

    def begin(self) -> None:
        """Start building (once): when the command running now has started, so the two do not compete."""
        if self._thread.ident is None:
            self._thread.start()

    def _builds(self) -> None:
        """Build; then, if told to (:meth:`unless_serving`) and this sandbox does not serve the line it was
        told, the other sandbox instead, in this thread."""
        while True:
            self._build(*self._recipe)
            with self._lock:
                instead, self._instead = self._instead, None
                if instead is None or (self.offline and self.key is not None and key_of(instead[0]) == self.key):
                    self._built = True
                    return
            if self.launcher is not None:  # of another shape: this one is built in its place
                self.launcher.discard()
            self._discard_folder()
            other = instead[1]()
            self.launcher, self.key = None, None
            self.ctl, self.fifo, self.offline, self._recipe = other.ctl, other.fifo, other.offline, other._recipe

    def unless_serving(self, line: Sequence[str], make: Callable[[], "Prebuilt"]) -> bool:
        """While this sandbox is still being built: once built, unless it serves ``line`` (offline, with
        ``line``'s mounts), build the one ``make()`` returns (never begun) in its place, in the same
        thread; True.  False when it is built already: the caller checks it now.  (A command coming
        meanwhile waits for both builds, :data:`MATCH_WAIT_S` at most, as for one.)"""
        with self._lock:
            if self._built or self._thread.ident is None:
                return False
            self._instead = (list(line), make)
            return True

    def _build(self, launcher_for, wrap, env: dict, wait_s: float) -> None:
        launcher = None
        try:
            launcher = launcher_for()
            if launcher is None:
                return
            relay = launcher.relay
            waiting = waiting_command(wait_s)
            self.python = waiting[0] != "/bin/sh"
            full = wrap(waiting, relay.child_fds if relay is not None else None)
            if str(FD) in (full[i + 1] for i, arg in enumerate(full[:-1]) if arg.endswith("-fd") or arg == "--seccomp"):
                return  # the descriptor is taken by bwrap's own
            prelude = f"exec {FD}<>{shlex.quote(str(self.fifo))} || exit 126\n"
            if not launcher.go(full, env=env, cwd=self.cwd, prelude=prelude, wait_s=READY_WAIT_S):
                return
            if relay is not None:  # its sandbox learnt, bubblewrap let go: the shell waits on FD
                relay.prepare(READY_WAIT_S)
            self.launcher, self.key, launcher = launcher, key_of(full), None
        except Exception:  # no standby: the command starts afresh
            pass
        finally:
            if launcher is not None:
                launcher.discard()

    def matches(self, full: Sequence[str]) -> bool:
        """Whether ``full`` (the command's own ``bwrap`` line) is this sandbox's with another command
        (False too when it is not built within :data:`MATCH_WAIT_S`: the command starts afresh)."""
        self.begin()
        self._thread.join(MATCH_WAIT_S)
        return not self._thread.is_alive() and self.key is not None and key_of(full) == self.key

    @property
    def relay(self):
        """The model relay of the launcher (None: a sandbox with no way to the model)."""
        return self.launcher.relay if self.launcher is not None else None

    @property
    def terminal(self) -> bool:
        return bool(self.launcher is not None and self.launcher.terminal)

    def hand_over(self, argv: Sequence[str], *, env: dict, cwd: Path) -> bool:
        """Give the waiting shell its command; False when it is not there (discard, start afresh)."""
        launcher = self.launcher
        if launcher is None:
            return False
        try:  # the sandbox may still be being built: its waiter opens the FIFO soon
            return hand_over(self.fifo, job(argv, env=env, cwd=cwd, python=self.python), wait_s=READY_WAIT_S,
                             alive=lambda: launcher.child.poll() is None)
        except OSError:
            return False

    def discard(self) -> None:
        """Kill the waiting sandbox (never used) and remove its FIFO; one still being built is discarded
        by a thread of its own once built (nobody waits for it)."""
        if self._thread.ident is not None and self._thread.is_alive():
            threading.Thread(target=self._discard_built, name="cab-prebuilt-discard", daemon=True).start()
            return
        self._discard_built()

    def _discard_built(self) -> None:
        if self._thread.ident is not None:
            self._thread.join()
        if self.launcher is not None:
            self.launcher.discard()
            self.launcher = None
        self._discard_folder()

    def release(self) -> None:
        """Remove the FIFO's folder (the waiter has read its command and closed the FIFO) in the background:
        a private folder, nothing to rename out of the way first."""
        from ..workspace import trash

        trash.later(self.ctl, _remove)

    def _discard_folder(self) -> None:
        from ..workspace import trash

        trash.discard(self.ctl, _remove)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
