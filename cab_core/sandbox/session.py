"""The interface of a sandbox session, as a :class:`typing.Protocol` (see :mod:`cab_core.sandbox`).

A sandbox plugin's ``open(...)`` returns an object of this shape; the runner uses nothing
else.  The local and docker sessions implement it, and a third party's session is checked
against it by ``isinstance`` (``runtime_checkable``: the methods exist) in
``cab_core.testing``-style tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Protocol, Sequence, runtime_checkable

from ..models import ProcessResult


@runtime_checkable
class SandboxSession(Protocol):
    """One cell's sandbox: runs its commands, says what it showed them, then is closed."""

    def run(self, argv: Sequence[str], *, cwd: Path, env: dict, timeout: float, writable: Sequence[Path] = (),
            network: bool = False, cast_path: Optional[Path] = None, output_cap: Optional[int] = None,
            stdin_devnull: bool = True, marker: Optional[str] = None, interact: Any = None) -> ProcessResult:
        """Run one command; everything it started is killed when it ends or times out."""
        ...

    def describe(self) -> dict:
        """At least ``sandbox`` and ``isolation``; containers add ``container_image`` and ``image_digest``."""
        ...

    def close(self) -> None:
        """Release whatever the session holds."""
        ...
