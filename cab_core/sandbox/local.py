"""The local sandbox: bubblewrap with no network, only the cell's folders writable.

With ``bwrap`` on PATH every command runs in fresh mount, pid, ipc, uts and network
namespaces with every capability dropped (a root harness would otherwise hand root's
capabilities to the agent, which could then unmount what hides the solution or
remount the system read-write): the whole file system read-only, the work directory
and private HOME writable, the task's solution, the results folder and the harness's
scratch hidden behind empty read-only tmpfs mounts (and with them the history of a
git repository they sit in, and the well-known credential files of the harness
user's home), ``/tmp``, ``/dev/shm`` and ``/run`` size-capped tmpfs, and the model
proxy reachable only through a Unix socket that a forwarder inside exposes on the
sandbox's own 127.0.0.1.  Without bwrap the command runs unisolated and the cell
says ``isolation: none``.

In both modes :mod:`cab_core.sandbox.limits` caps processes, disk (and optionally
memory) per command, and everything a command started is killed through its cgroup
when it ends.  ``LocalSession(limits=...)`` takes ``limit.*`` options (the runner
passes ``-o limit.disk=2G`` and friends); see :class:`~cab_core.sandbox.limits.Limits`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence

import attrs

from ..models import ProcessResult, Sandbox
from ..plugins import hookimpl
from . import forwarder
from .limits import RUN_SIZE, SHM_SIZE, CellCgroup, DiskWatch, Limits, Watch, limit_prefix
from .pty import run_in_pty

#: Files of the harness user's home that hold credentials: never shown to an agent.
CREDENTIAL_PATHS = (
    ".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".netrc", ".npmrc", ".pypirc", ".git-credentials",
    ".config/gh", ".config/gcloud", ".config/hub", ".config/git/credentials", ".cargo/credentials",
    ".cargo/credentials.toml", ".claude", ".claude.json", ".codex", ".config/opencode", ".local/share/opencode",
    ".pi/agent/auth.json", ".aider.conf.yml", ".env",
)


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
        limits=None,
        **_ignored,
    ):
        self.bwrap = bwrap_path() if isolate is not False else None
        if isolate and not self.bwrap:
            raise RuntimeError("bwrap is not installed (apt-get install bubblewrap)")
        self.limits = limits if isinstance(limits, Limits) else Limits.from_options(limits)
        self.hide = hidden_paths(hide)
        self.proxy_socket = proxy_socket
        self.proxy_port = proxy_port

    @property
    def isolation(self) -> str:
        return "bwrap" if self.bwrap else "none"

    def describe(self) -> dict:
        return {"sandbox": "local", "isolation": self.isolation, "limits": self.limits.describe()}

    def endpoint_host(self) -> str:
        """Where the agent reaches the proxy (the same loopback address in both modes)."""
        return "127.0.0.1"

    def _wrap(self, argv: Sequence[str], cwd: Path, writable: Sequence[Path], env: dict, network: bool) -> list[str]:
        if not self.bwrap:
            return list(argv)
        tmp = ["--size", str(self.limits.tmp_size)] if self.limits.disk else []
        cmd = [
            self.bwrap,
            "--die-with-parent",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--cap-drop", "ALL",
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--size", str(SHM_SIZE), "--tmpfs", "/dev/shm",
            "--remount-ro", "/dev",
            "--proc", "/proc",
            *tmp, "--tmpfs", "/tmp",
            "--size", str(RUN_SIZE), "--tmpfs", "/run",
        ]
        if not network:
            cmd.append("--unshare-net")
        # /tmp is replaced by an empty tmpfs; what the command needs from there (a harness
        # or agent installed under /tmp, as in a CI checkout) is bound back read-only.
        for path in _needed_under_tmp(argv, env):
            cmd += ["--ro-bind", str(path), str(path)]
        for path in self.hide:
            if path.is_dir():
                cmd += ["--size", "4096", "--tmpfs", str(path)]
                if not any(path == w or path in w.parents for w in writable):  # bwrap mounts those inside it
                    cmd += ["--remount-ro", str(path)]
            elif path.exists():
                cmd += ["--ro-bind", "/dev/null", str(path)]
        for path in writable:
            cmd += ["--bind", str(path), str(path)]
        inner = list(argv)
        if self.proxy_socket and self.proxy_port and not network and Path(self.proxy_socket).exists():
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
        """Run ``argv`` in ``cwd``; only ``writable`` folders (and /tmp) can be written.

        The command runs in a cgroup of its own under the session's limits; a breach
        stops it and is reported in ``ProcessResult.error`` (``limit exceeded: ...``).
        """
        writable = [Path(cwd), *(Path(p) for p in writable)]
        full = self._wrap(argv, Path(cwd), writable, env, network)
        cgroup = CellCgroup(self.limits)
        watch = Watch(DiskWatch(writable, self.limits.disk), cgroup)
        kwargs = {} if output_cap is None else {"output_cap": output_cap}
        try:
            result = run_in_pty(
                [*limit_prefix(self.limits, cgroup), *full], env=env, cwd=Path(cwd), timeout=timeout,
                cast_path=cast_path, stdin_devnull=stdin_devnull, marker=marker, interact=interact, watch=watch,
                **kwargs,
            )
        finally:
            leftovers = cgroup.close()
        if leftovers:
            result = attrs.evolve(result, killed_processes=result.killed_processes + leftovers)
        return result

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


def hidden_paths(hide: Sequence[Path]) -> list[Path]:
    """What to hide: ``hide``, the git repositories holding any of it, the harness user's credentials.

    A solution folder inside a git work tree is also in that repository's history
    (``git show HEAD:path`` reads it from the read-only ``.git``), so the ``.git``
    goes too.
    """
    out: list[Path] = []
    for path in (Path(p) for p in hide if p):
        out.append(path)
        git = _enclosing_git(path)
        if git is not None:
            out.append(git)
    home = Path(os.path.expanduser("~"))
    if str(home) not in ("/", ""):
        out += [home / rel for rel in CREDENTIAL_PATHS]
    seen, unique = set(), []
    for path in out:
        if path not in seen:
            seen.add(path)
            unique.append(path)
    return unique


def _enclosing_git(path: Path) -> Optional[Path]:
    """The ``.git`` folder of the repository ``path`` is in (following a ``gitdir:`` file)."""
    for folder in [path, *path.parents]:
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            try:
                text = dot_git.read_text().strip()
            except OSError:
                return None
            if text.startswith("gitdir:"):
                target = Path(text[7:].strip())
                return target if target.is_absolute() else (folder / target).resolve()
            return None
    return None


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
