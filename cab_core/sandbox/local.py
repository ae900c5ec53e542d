"""The local sandbox: bubblewrap with no network, only the cell's folders writable.

With ``bwrap`` on PATH every command runs in fresh mount, pid, ipc, uts and network
namespaces: the whole file system read-only, the work directory and private HOME
writable, the task's solution, the results folder and the harness's scratch hidden
behind empty tmpfs mounts, and the model proxy reachable only through a Unix socket
that a forwarder inside exposes on the sandbox's own 127.0.0.1.  Without bwrap the
command runs unisolated and the cell says ``isolation: none``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..models import ProcessResult, Sandbox
from ..plugins import hookimpl
from . import forwarder
from .pty import run_in_pty


def bwrap_path() -> Optional[str]:
    """The bwrap executable, unless ``CAB_NO_BWRAP=1`` asks to run unisolated."""
    if os.environ.get("CAB_NO_BWRAP") == "1":
        return None
    return shutil.which("bwrap")


class LocalSession:
    """Runs a cell's commands on this machine (see the module docstring)."""

    name = "local"

    def __init__(
        self,
        *,
        hide: Sequence[Path] = (),
        proxy_socket: Optional[Path] = None,
        proxy_port: Optional[int] = None,
        isolate: Optional[bool] = None,
        **_ignored,
    ):
        self.bwrap = bwrap_path() if isolate is not False else None
        if isolate and not self.bwrap:
            raise RuntimeError("bwrap is not installed (apt-get install bubblewrap)")
        self.hide = [Path(p) for p in hide if p]
        self.proxy_socket = proxy_socket
        self.proxy_port = proxy_port

    @property
    def isolation(self) -> str:
        return "bwrap" if self.bwrap else "none"

    def describe(self) -> dict:
        return {"sandbox": "local", "isolation": self.isolation}

    def endpoint_host(self) -> str:
        """Where the agent reaches the proxy (the same loopback address in both modes)."""
        return "127.0.0.1"

    def _wrap(self, argv: Sequence[str], cwd: Path, writable: Sequence[Path], env: dict, network: bool) -> list[str]:
        if not self.bwrap:
            return list(argv)
        cmd = [
            self.bwrap,
            "--die-with-parent",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            "--tmpfs", "/tmp",
            "--tmpfs", "/run",
        ]
        if not network:
            cmd.append("--unshare-net")
        # /tmp is replaced by an empty tmpfs; what the command needs from there (a harness
        # or agent installed under /tmp, as in a CI checkout) is bound back read-only.
        for path in _needed_under_tmp(argv, env):
            cmd += ["--ro-bind", str(path), str(path)]
        for path in self.hide:
            if path.exists():
                cmd += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
        for path in writable:
            cmd += ["--bind", str(path), str(path)]
        inner = list(argv)
        if self.proxy_socket and self.proxy_port and not network:
            sock_inside = "/run/cab/proxy.sock"
            cmd += ["--dir", "/run/cab", "--ro-bind", str(self.proxy_socket), sock_inside]
            inner = [sys.executable, "-I", "-S", forwarder.__file__, str(self.proxy_port), sock_inside, "--", *inner]
        cmd += ["--chdir", str(cwd), "--", *inner]
        return cmd

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: dict,
        timeout: float,
        writable: Sequence[Path] = (),
        network: bool = False,
        cast_path: Optional[Path] = None,
        output_cap: Optional[int] = None,
        stdin_devnull: bool = True,
        marker: Optional[str] = None,
        interact=None,
    ) -> ProcessResult:
        """Run ``argv`` in ``cwd``; only ``writable`` folders (and /tmp) can be written."""
        full = self._wrap(argv, Path(cwd), [Path(cwd), *writable], env, network)
        kwargs = {} if output_cap is None else {"output_cap": output_cap}
        return run_in_pty(
            full, env=env, cwd=Path(cwd), timeout=timeout, cast_path=cast_path,
            stdin_devnull=stdin_devnull, marker=marker, interact=interact, **kwargs,
        )

    def close(self) -> None:
        pass


def _under_tmp(path: Path) -> bool:
    return path.is_absolute() and path.parts[:2] == ("/", "tmp") and len(path.parts) > 2


def _needed_under_tmp(argv: Sequence[str], env: dict) -> list[Path]:
    """Folders below /tmp the command needs: the harness, its Python, PATH entries, argv[0]."""
    candidates = [Path(sys.prefix), Path(sys.base_prefix), Path(__file__).resolve().parents[2]]
    candidates += [Path(p) for p in env.get("PATH", "").split(os.pathsep) if p]
    if argv and os.path.isabs(argv[0]):
        candidates.append(Path(argv[0]).parent)
    found: list[Path] = []
    for path in candidates:
        for variant in {path, path.resolve()} if path.exists() else ():
            if _under_tmp(variant) and not any(variant == f or f in variant.parents for f in found):
                found = [f for f in found if variant not in f.parents] + [variant]
    return sorted(found)


def _available() -> Optional[str]:
    return None


@hookimpl
def cab_sandboxes():
    return [
        Sandbox(
            name="local",
            open=LocalSession,
            available=_available,
            description="this machine; bubblewrap isolation (no network, read-only system) when bwrap is installed",
        )
    ]
