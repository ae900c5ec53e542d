"""Sandboxes: where a cell's commands run.

A sandbox plugin returns a :class:`cab_core.models.Sandbox` whose ``open(**options)``
gives a session for one cell.  The runner calls ``open`` with ``hide`` (paths the
agent must not read: the task's solution, the results folder, other tasks),
``mounts`` (:class:`~cab_core.models.Mount` records the adapter and the task declare:
host paths the commands need beyond what the sandbox provides), ``proxy_socket`` and
``proxy_port`` (the recording proxy, reachable inside the sandbox at
``http://127.0.0.1:<proxy_port>``), ``image`` (for container sandboxes),
``workdir``/``home``, and ``limits`` (the ``-o limit.pids|disk|memory=...`` options, see
:mod:`cab_core.sandbox.limits`) when the user gave any.  A session provides:

- ``run(argv, *, cwd, env, timeout, writable=(), network=False, cast_path=None,
  output_cap=None, stdin_devnull=True, marker=None, interact=None) -> ProcessResult``:
  run one command under a PTY, killing everything it started when it ends or times out;
- ``describe() -> dict``: at least ``sandbox`` and ``isolation``; container sandboxes add
  ``container_image`` and ``image_digest``; ``mounts`` (``[{path, writable, why}]``, every
  host path shown to the commands so far) goes into the cell record;
- ``close()``: release whatever the session holds.

:class:`SandboxSession` states that interface as a :class:`typing.Protocol`; a session's
``open`` names every keyword above (none swallowed by ``**kwargs``), so a misspelt option is
an error.
"""

from .session import SandboxSession

__all__ = ["SandboxSession"]
