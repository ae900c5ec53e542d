"""Handing a command to a process that waits for it on a FIFO (issue 16).

Both ways of starting a command ahead of time use it: the local sandbox's parked
launchers (:mod:`.parked`) and the docker sandbox's standby containers (:mod:`.standby`).
The waiting shell reads one script from its FIFO and runs it; the script moves to the
command's folder and ``exec``\\ s the command with exactly its environment (``env -i``),
so what runs is what a freshly started process would have run.
"""

from __future__ import annotations

import errno
import os
import shlex
import time
from pathlib import Path
from typing import Callable, Optional, Sequence


def exec_script(argv: Sequence[str], *, env: dict, cwd: str) -> bytes:
    """The shell script that runs ``argv`` in ``cwd`` with exactly ``env``."""
    return "".join([f"cd {shlex.quote(str(cwd))} || exit 126\n", "exec env -i ",
                    *(f"{shlex.quote(f'{k}={v}')} " for k, v in env.items()),
                    *(f"{shlex.quote(str(a))} " for a in argv), "\n"]).encode()


def hand_over(fifo: Path, script: bytes, *, wait_s: float = 0.0,
              alive: Optional[Callable[[], bool]] = None) -> bool:
    """Write ``script`` to the waiter on ``fifo``; False when nobody waits there (within ``wait_s``:
    a waiter just started opens its FIFO soon; ``alive`` says whether it still can)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            if time.monotonic() >= deadline or (alive is not None and not alive()):  # no reader, none coming
                return False
            time.sleep(0.002)
    try:
        os.set_blocking(fd, True)  # the reader is there: write the whole script, however long
        view = memoryview(script)
        while view:
            view = view[os.write(fd, view):]
    except OSError:  # the waiter died while reading: nothing ran
        return False
    finally:
        os.close(fd)
    return True
