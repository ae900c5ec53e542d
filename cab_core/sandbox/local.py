"""The local sandbox: bubblewrap with no network and an allow-list root.

With ``bwrap`` on PATH every command runs in fresh mount, pid, ipc, uts and network
namespaces with every capability dropped (a root harness would otherwise hand root's
capabilities to the agent, which could then unmount or remount what it sees).  The
file system inside is built from what the command needs (:mod:`cab_core.sandbox.mounts`):
the system folders, the toolchains its environment names, the Python runtime, the
agent's own install and what the task and adapter declare, read-only; the work
directory and private HOME writable; ``/tmp``, ``/var/tmp``, ``/dev/shm`` and ``/run``
size-capped private tmpfs; the root itself read-only.  Nothing else of the host
exists inside: not the harness user's HOME, not the harness's checkout, not other
tasks, the results or the task caches.  The model proxy is reachable only on the
sandbox's own 127.0.0.1: through a socket the harness opens in the sandbox's network
namespace where it may (:mod:`cab_core.sandbox.netrelay`), else through the proxy's Unix
socket and a forwarder inside (:mod:`cab_core.sandbox.forwarder`).  Every
mount a cell's commands got is in ``describe()["mounts"]`` (and so in the cell record).
``LocalSession(full_root=True)`` builds the old view instead (the whole host read-only
minus a deny-list), kept for the start-time benchmark.  Without bwrap the command
runs unisolated and the cell says ``isolation: none``.

In both modes :mod:`cab_core.sandbox.limits` caps processes, disk (and optionally
memory) per command, and everything a command started is killed through its cgroup
when it ends.  A command that records no terminal cast and is not interactive (the
verify run, validation) runs through pipes (:mod:`cab_core.sandbox.piped`); a recorded
one nobody types into (a headless agent) under a bare terminal from the same module; an
interactive one under pexpect's PTY (:mod:`cab_core.sandbox.pty`).  ``LocalSession(limits=...)`` takes ``limit.*`` options (the runner
passes ``-o limit.disk=2G`` and friends); see :class:`~cab_core.sandbox.limits.Limits`.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence

import attrs

from ..errors import CabError, InfraError
from ..models import Mount, ProcessResult, Sandbox, to_mounts
from ..plugins import hookimpl
from . import forwarder, kernel, localpool, mounts as allow, netrelay, parked, prebuilt, procs, quiet
from .mounts import CREDENTIAL_PATHS  # noqa: F401  (kept importable from here)
from .limits import RUN_SIZE, SHM_SIZE, CellCgroup, DiskWatch, Limits, Watch, limit_prefix
from .piped import run_piped
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
        mounts: Sequence = (),
        proxy_socket: Optional[Path] = None,
        proxy_port: Optional[int] = None,
        isolate: Optional[bool] = None,
        limits=None,
        full_root: bool = False,
        image: Optional[str] = None,
        workdir: Optional[Path] = None,
        home: Optional[Path] = None,
    ):
        # ``image``, ``workdir`` and ``home`` are part of what every sandbox is opened with
        # (see :mod:`cab_core.sandbox`); this one needs only ``workdir`` (the agent's folder).  Every keyword is named,
        # so a misspelt one is a TypeError, not silently ignored.
        self.bwrap = bwrap_path() if isolate is not False else None
        if isolate and not self.bwrap:
            raise RuntimeError("bwrap is not installed (apt-get install bubblewrap)")
        self.limits = limits if isinstance(limits, Limits) else Limits.from_options(limits)
        self.full_root = full_root
        self.hide, self.covers, self.protected = _hiding(tuple(Path(p) for p in hide if p), str(Path.home()),
                                                         *(os.environ.get(v) for v in _ROOT_VARS))
        try:
            self.declared = to_mounts(mounts)
            allow.check_declared(self.declared, self.protected)
        except ValueError as exc:
            raise CabError(f"sandbox: {exc}") from None
        self.proxy_socket = proxy_socket
        self.proxy_port = proxy_port
        self._shown: dict[tuple, Mount] = {}
        self._skipped: dict[str, str] = {}
        #: How the agent's model calls leave the sandbox (in ``describe()`` once a command was relayed).
        self.relay_kind: Optional[str] = None
        #: Sandboxes built ahead for a later command, by its folder (see :meth:`prewarm`).
        self._prebuilt: dict[str, prebuilt.Prebuilt] = {}
        self.built_ahead = 0
        #: Launchers to park again once the running command ends, by kind (see :meth:`_parked`).
        self._refills: dict[tuple, object] = {}
        #: The agent's folder; sandboxes built for this cell ahead (:mod:`.localpool`), by folder.
        self.workdir = Path(workdir) if workdir is not None else None
        self._prebuilt.update(localpool.claim(self.workdir) if self.bwrap and not full_root else {})
        self._prepared = False  # a slot for the next cell was asked for
        self._next_slot: Optional[list] = None  # ... and is built once the next command has started
        self._verify_shapes: list[tuple] = []  # what prewarm built, to build it again for the next cell
        self._when_started: list = []  # see when_started

    @property
    def isolation(self) -> str:
        return "bwrap" if self.bwrap else "none"

    def describe(self) -> dict:
        """Where the commands ran; ``mounts``: every host path they were shown (so far), with why."""
        info = {"sandbox": "local", "isolation": self.isolation, "limits": self.limits.describe()}
        if self.bwrap and not self.full_root:
            info["mounts"] = allow.describe_mounts(self._shown.values())
            info["mounts_skipped"] = dict(self._skipped)
        if self.relay_kind:
            info["model_relay"] = self.relay_kind
        if self.built_ahead:
            info["built_ahead"] = self.built_ahead  # commands that ran in a sandbox built before them
        return info

    def endpoint_host(self) -> str:
        """Where the agent reaches the proxy (the same loopback address in both modes)."""
        return "127.0.0.1"

    def _show(self, mounts) -> None:
        for mount in mounts:
            self._shown.setdefault((str(mount.path), mount.writable), mount)

    def _proxied(self, network: bool) -> bool:
        return bool(self.proxy_socket and self.proxy_port and not network and Path(self.proxy_socket).exists())

    def _wrap(self, argv: Sequence[str], cwd: Path, writable: Sequence[Path], env: dict, network: bool,
              relay_fds: Optional[tuple[int, int]] = None, *, proxy: bool = True,
              command: Optional[Sequence[str]] = None, show: bool = True) -> list[str]:
        """The bwrap command line; ``relay_fds`` (see :mod:`.netrelay`) instead of the in-sandbox forwarder;
        ``proxy=False``: no way to the model proxy at all.  ``command``: run that instead of ``argv`` in the
        sandbox made for ``argv`` (a sandbox built ahead); ``show=False``: not one of this cell's commands."""
        if not self.bwrap:
            return list(argv)
        if self.full_root:
            return self._wrap_full_root(argv, cwd, writable, env, network)
        tmp = ["--size", str(self.limits.tmp_size)] if self.limits.disk else []
        proxied = proxy and self._proxied(network) and relay_fds is None  # the forwarder inside relays
        declared = list(self.declared)
        if proxied:
            declared.append(Mount(path=Path(sys.base_prefix), why="the harness's Python interpreter (the proxy forwarder)"))
        view = allow.cached_view(argv, env, declared=declared, hide=self.hide, covers=self.covers,
                                 protected=self.protected)
        # the kernel's keyrings are the uid's, not the sandbox's (the filter's descriptor is not the relay's)
        opener, seccomp = kernel.seccomp_args(avoid=relay_fds or ())
        cmd = [
            *opener, self.bwrap, *seccomp,
            "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--cap-drop", "ALL",
            *allow.system_args(),
            "--dev", "/dev",
            "--size", str(SHM_SIZE), "--tmpfs", "/dev/shm",
            "--remount-ro", "/dev",
            "--proc", "/proc", *kernel.proc_args(),
            *tmp, "--tmpfs", "/tmp",
            *tmp, "--tmpfs", "/var/tmp",
            "--size", str(RUN_SIZE), "--tmpfs", "/run",
            *allow.mount_args(view),
        ]
        if not network:
            cmd.append("--unshare-net")
        for path in writable:
            cmd += ["--bind", str(path), str(path)]
        if show:
            self._show(view.mounts)
            self._show(Mount(path=Path(host), why=f"a package of the harness's Python, at {inside}")
                       for inside, host in view.placed)
            self._show(Mount(path=Path(p), writable=True, why="the cell's own folder") for p in writable)
            self._skipped.update(view.skipped)
        inner = list(view.argv if command is None else command)
        if proxied:
            sock_inside, relay = "/run/cab/proxy.sock", "/run/cab/forwarder.py"
            cmd += ["--ro-bind", str(self.proxy_socket), sock_inside, "--ro-bind", forwarder.__file__, relay]
            inner = [allow.base_python(), "-I", "-S", relay, str(self.proxy_port), sock_inside, "--", *inner]
            self.relay_kind = "forwarder (in the sandbox)"
        if relay_fds is not None:  # the harness opens the relay in this sandbox's network namespace
            cmd += ["--info-fd", str(relay_fds[0]), "--block-fd", str(relay_fds[1])]
        cmd += ["--remount-ro", "/", "--chdir", str(cwd), "--", *inner]
        return cmd

    def _wrap_full_root(self, argv: Sequence[str], cwd: Path, writable: Sequence[Path], env: dict,
                        network: bool) -> list[str]:
        """The old view: the whole host read-only, minus the deny-list (for comparison only)."""
        tmp = ["--size", str(self.limits.tmp_size)] if self.limits.disk else []
        cmd = [
            self.bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--cap-drop", "ALL",
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--size", str(SHM_SIZE), "--tmpfs", "/dev/shm",
            "--remount-ro", "/dev",
            "--proc", "/proc", *kernel.proc_args(),
            *tmp, "--tmpfs", "/tmp",
            "--size", str(RUN_SIZE), "--tmpfs", "/run",
        ]
        if not network:
            cmd.append("--unshare-net")
        for path in _needed_under_tmp(argv, env):
            cmd += ["--ro-bind", str(path), str(path)]
        for path in [*self.hide, *allow.credential_paths()]:
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
        piped = interact is None and stdin_devnull  # nobody types: no pexpect (a bare terminal when recorded)
        wants_relay = bool(piped and self.bwrap and not self.full_root and self._proxied(network)
                           and netrelay.supported(self.bwrap))
        pre = self._prebuilt.pop(str(Path(cwd)), None)
        result = None
        if pre is not None:
            if piped and not network:
                result = self._run_prebuilt(pre, argv, cwd=Path(cwd), env=env, timeout=timeout, writable=writable,
                                            output_cap=output_cap, marker=marker, cast_path=cast_path,
                                            relay=wants_relay and not pre.offline)
            if result is None:
                pre.discard()
        if result is None:
            result = self._run_fresh(argv, cwd=cwd, env=env, timeout=timeout, writable=writable, network=network,
                                     cast_path=cast_path, output_cap=output_cap, stdin_devnull=stdin_devnull,
                                     marker=marker, interact=interact, piped=piped, wants_relay=wants_relay)
        if cast_path is not None and piped and not network and self.workdir is not None and Path(cwd) == self.workdir:
            self._prepare_next(argv, env, writable, terminal=cast_path is not None, relay=wants_relay)
        return result

    def _run_fresh(self, argv: Sequence[str], *, cwd, env: dict, timeout: float, writable: list[Path], network: bool,
                   cast_path, output_cap, stdin_devnull: bool, marker, interact, piped: bool,
                   wants_relay: bool) -> ProcessResult:
        """Run ``argv`` in a sandbox built now (by a parked launcher when there is one)."""
        launcher = self._parked(cast_path is not None, wants_relay) if piped and self.bwrap else None
        relay = launcher.relay if launcher else (netrelay.NetnsRelay(self.proxy_socket, self.proxy_port)
                                                 if wants_relay else None)
        if relay is not None:
            relay.target, relay.port = str(self.proxy_socket), int(self.proxy_port)
        self.relay_kind = "harness (in the sandbox's network namespace)" if relay else self.relay_kind
        try:
            full = self._wrap(argv, Path(cwd), writable, env, network, relay.child_fds if relay else None)
            if launcher is not None:
                if marker:
                    procs.note_launch(marker, contained=True)  # before it starts: see procs.sweep
                if not launcher.go(full, env=env, cwd=Path(cwd)):  # it died while parked: start afresh
                    launcher.discard()
                    launcher = None
                    relay = netrelay.NetnsRelay(self.proxy_socket, self.proxy_port) if wants_relay else None
                    full = self._wrap(argv, Path(cwd), writable, env, network, relay.child_fds if relay else None)
            result = self._run(full, cwd=cwd, env=env, timeout=timeout, writable=writable, cast_path=cast_path,
                               output_cap=output_cap, stdin_devnull=stdin_devnull, marker=marker, interact=interact,
                               piped=piped, relay=relay, launcher=launcher)
        finally:
            if relay is not None:
                relay.close()
        _relay_failed(relay)
        return result

    def _parked(self, terminal: bool, relay: bool) -> Optional[parked.Parked]:
        """A launcher parked for this kind of command (see :mod:`.parked`), if one is ready and alive."""
        key, make = self._kind(terminal, relay)
        launcher = parked.POOL.take(key, make, refill=False)
        self._refills[key] = make  # parked again once the command running now has ended (not beside its start)
        if launcher is not None and launcher.child.poll() is not None:
            launcher.discard()
            return None
        return launcher

    def _launcher(self, terminal: bool, relay: bool) -> Optional[parked.Parked]:
        """A launcher for a sandbox built ahead: the parked one, else one the pool's spawner starts now."""
        return self._parked(terminal, relay) or parked.POOL.make(self._kind(terminal, relay)[1])

    def _kind(self, terminal: bool, relay: bool):
        def make() -> parked.Parked:
            return parked.Parked(limits=self.limits, terminal=terminal,
                                 relay=netrelay.NetnsRelay("", 0) if relay else None)

        return (repr(self.limits), terminal, relay), make

    def _run(self, full: list[str], *, cwd, env, timeout, writable, cast_path, output_cap,
             stdin_devnull, marker, interact, piped: bool, relay, launcher=None) -> ProcessResult:
        cgroup = launcher.cgroup if launcher else CellCgroup(self.limits)
        watch = Watch(DiskWatch(writable, self.limits.disk, files=self.limits.files), cgroup)
        kwargs = {} if output_cap is None else {"output_cap": output_cap}
        argv_full = [*limit_prefix(self.limits, cgroup), *full]
        # In bubblewrap the command is the first process of its own PID namespace: when it ends
        # the kernel kills everything it started, so there is nothing to find by marker.
        contained = bool(self.bwrap)
        if marker:
            procs.note_launch(marker, contained=contained)  # before it starts: see procs.sweep
        scan = None if contained else marker
        try:
            if launcher is not None:  # already in its cgroup, output wired, handed its command (run())
                relayed = {"started": self._started(relay)}
                result = run_piped(full, env=env, cwd=Path(cwd), timeout=timeout, marker=scan, watch=watch,
                                   terminal=cast_path is not None, cast_path=cast_path,
                                   spawned=(launcher.child, launcher.fd), **relayed, **kwargs)
            elif piped:
                relayed = {"started": self._started(relay), **({"pass_fds": relay.child_fds} if relay else {})}
                result = run_piped(argv_full, env=env, cwd=Path(cwd), timeout=timeout, marker=scan, watch=watch,
                                   terminal=cast_path is not None, cast_path=cast_path, **relayed, **kwargs)
            else:
                result = run_in_pty(argv_full, env=env, cwd=Path(cwd), timeout=timeout, cast_path=cast_path,
                                    stdin_devnull=stdin_devnull, marker=scan, interact=interact, watch=watch,
                                    **kwargs)
        finally:
            leftovers = cgroup.close()
            self._refill_parked()
        if leftovers:
            result = attrs.evolve(result, killed_processes=result.killed_processes + leftovers)
        return result

    def prewarm(self, *, cwd: Path, writable: Sequence[Path] = (), timeout: float, wait_s: float,
                marker: Optional[str] = None, env: Optional[dict] = None) -> None:
        """Build, in the background, the sandbox of a later ``/bin/sh -c`` command in ``cwd`` with ``env``
        (see :mod:`.prebuilt`).  It never reaches the model proxy; a failure only means none."""
        if not self.bwrap or self.full_root or env is None:
            return
        writable = [Path(cwd), *(Path(p) for p in writable)]
        self._verify_shapes.append((Path(cwd), writable, env, ("/bin/sh", "-c", "true"), None))
        ahead = self._prebuilt.pop(str(Path(cwd)), None)  # built while the last cell verified (:mod:`.localpool`)
        fresh = functools.partial(self._offline, Path(cwd), writable, env, wait_s + timeout)
        if ahead is not None:
            line = self._wrap(["/bin/sh", "-c", "true"], Path(cwd), writable, env, False, proxy=False, show=False)
            # Still being built (beside the last cell's tests): not waited for; once built, it is
            # checked in its own thread and, if of another shape, this cell's is built there instead.
            if ahead.unless_serving(line, fresh) or (ahead.offline and ahead.matches(line)):
                self._prebuilt[str(Path(cwd))] = ahead
                return
            ahead.discard()  # a cell of another shape (another agent's mounts): build this one's
        self._prebuilt[str(Path(cwd))] = fresh()

    def _offline(self, cwd: Path, writable: list[Path], env: dict, wait_s: float,
                 argv: Sequence[str] = ("/bin/sh", "-c", "true"), show: bool = True) -> "prebuilt.Prebuilt":
        """A sandbox built ahead for a command with no way to the model (the verify step's)."""
        return prebuilt.Prebuilt(
            cwd=cwd, env=env, wait_s=wait_s, offline=True,
            launcher_for=lambda: self._launcher(False, False),
            wrap=lambda waiting, fds: self._wrap(argv, cwd, writable, env, False, proxy=False, command=waiting,
                                                 show=show))

    def _started(self, relay):
        """What to do once a command has started: attach its relay, then begin the sandboxes built ahead."""
        def started(child) -> None:
            if relay is not None:
                relay.attach(child)
            for pre in list(self._prebuilt.values()):
                pre.begin()
            if self._next_slot is not None:  # the agent is done and the tests have started (and run a moment)
                shapes, self._next_slot = self._next_slot, None
                quiet.later(functools.partial(localpool.prepare, shapes, self.workdir.parent), tag="slot")
            while self._when_started:
                self._when_started.pop(0)()
        return started

    def when_started(self, fn) -> None:
        """Call ``fn()`` once the next command has started (the harness's background work: begun
        then, its threads do not take the interpreter from that command's start)."""
        self._when_started.append(fn)

    def _run_prebuilt(self, pre: "prebuilt.Prebuilt", argv: Sequence[str], *, cwd: Path, env: dict, timeout: float,
                      writable: list[Path], output_cap: Optional[int], marker: Optional[str], cast_path=None,
                      relay: bool = False) -> Optional[ProcessResult]:
        """Run ``argv`` in the sandbox built for it ahead, or None when that sandbox is not exactly its own
        (the same line, the same kind of launcher: its terminal, its model relay)."""
        full = self._wrap(argv, cwd, writable, env, False, (-1, -1) if relay else None, proxy=False)
        if not pre.matches(full) or pre.terminal != (cast_path is not None) or (pre.relay is not None) != relay:
            return None
        if marker:
            procs.note_launch(marker, contained=True)  # before it starts: see procs.sweep
        link, handed = pre.relay, False
        try:
            if link is not None:  # the socket in its namespace opens before the command can call
                link.target, link.port = str(self.proxy_socket), int(self.proxy_port)
                link.attach(pre.launcher.child)
                self.relay_kind = "harness (in the sandbox's network namespace)"
            if not pre.hand_over(prebuilt.split(full)[1], env=env, cwd=cwd):
                return None
            handed = True
            self.built_ahead += 1
            result = self._run(full, cwd=cwd, env=env, timeout=timeout, writable=writable, cast_path=cast_path,
                               output_cap=output_cap, stdin_devnull=True, marker=marker, interact=None, piped=True,
                               relay=link, launcher=pre.launcher)
        finally:
            if link is not None:
                link.close()
            if handed:  # its FIFO's folder: removed once the command is over, not beside its start
                pre.release()
        _relay_failed(link)
        return result

    def _prepare_next(self, argv: Sequence[str], env: dict, writable: list[Path], *, terminal: bool,
                      relay: bool) -> None:
        """In a sweep, once the agent's command has ended: the next cell's sandboxes, shaped like this
        cell's (the agent's, the verify step's), to build ahead in a slot (see :mod:`.localpool`) once
        the next command (the tests) has started: nothing competes with the diff, nor with the agent."""
        if self._prepared or not localpool.enabled() or not self.bwrap or self.full_root:
            return
        self._prepared = True
        if self._proxied(False) and not relay:
            return  # its calls went through the in-sandbox forwarder: nothing built ahead relays that way
        shapes = [(self.workdir, writable, env, argv, (terminal, relay)), *self._verify_shapes]
        self._next_slot = [functools.partial(self._build_moved, *shape) for shape in shapes]

    def _build_moved(self, cwd: Path, writable: list[Path], env: dict, argv: Sequence[str], kind: Optional[tuple],
                     old: str, new: str) -> tuple[str, "prebuilt.Prebuilt"]:
        """This cell's command's sandbox moved from the cell root ``old`` to ``new``, built ahead (``kind``:
        the launcher's (terminal, relay), or None for a command with no way to the model)."""
        at = Path(localpool.moved(str(cwd), old, new))
        env = {k: localpool.moved(v, old, new) for k, v in env.items()}
        writable = [Path(localpool.moved(str(p), old, new)) for p in writable]
        argv = [localpool.moved(str(a), old, new) for a in argv]
        if kind is None:
            return str(at), self._offline(at, writable, env, 3600, argv, show=False)
        terminal, relay = kind
        return str(at), prebuilt.Prebuilt(
            cwd=at, env=env, wait_s=3600,
            launcher_for=lambda: self._launcher(terminal, relay),
            wrap=lambda waiting, fds: self._wrap(argv, at, writable, env, False, fds, proxy=False, command=waiting,
                                                 show=False))

    def _refill_parked(self) -> None:
        """Park launchers again for the kinds of command taken since (see :meth:`_parked`)."""
        while True:
            try:
                key, make = self._refills.popitem()
            except KeyError:
                return
            parked.POOL.refill(key, make)

    @staticmethod
    def reserve_root() -> Optional[Path]:
        """A cell root whose sandboxes were built while the last cell verified (the runner makes the cell there)."""
        return localpool.reserve_root()

    def close(self) -> None:
        """Discard what was built ahead and never used (and work waiting for a command that never came)."""
        self._when_started.clear()
        while self._prebuilt:
            self._prebuilt.popitem()[1].discard()
        self._refill_parked()


def _relay_failed(relay) -> None:
    if relay is not None and relay.failure:  # the agent lost its endpoint through no fault of its own
        raise InfraError(f"environment: the model relay of the sandbox failed: {relay.failure}")


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


#: The environment variables the protected roots depend on (besides HOME).
_ROOT_VARS = ("CAB_CACHE", "CAB_CACHE_DIR", "CAB_AGENTS_DIR")


@functools.lru_cache(maxsize=8)
def _hiding(hide: tuple[Path, ...], home: str, *cache_vars) -> tuple[tuple[Path, ...], dict[str, Path], tuple[Path, ...]]:
    """What a session hides, its cover index and the protected roots: the same for every cell of a sweep.

    Keyed by what decides them (the paths, HOME and the cache variables); the returned
    dict is shared and never changed.
    """
    hidden = tuple(hidden_paths(hide))
    return hidden, allow.cover_index(hidden), tuple(allow.protected_roots())


def hidden_paths(hide: Sequence[Path]) -> list[Path]:
    """What to hide: ``hide`` and the git repositories holding any of it.

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
    seen, unique = set(), []
    for path in out:
        if path not in seen:
            seen.add(path)
            unique.append(path)
    return unique


def _enclosing_git(path: Path) -> Optional[Path]:
    """The ``.git`` folder of the repository ``path`` is in (following a ``gitdir:`` file)."""
    return _git_of(str(path))


@functools.lru_cache(maxsize=8192)
def _git_of(folder: str) -> Optional[Path]:
    # Cached per folder: a catalog of thousands of tasks shares a few parents.
    dot_git = Path(folder, ".git")
    if dot_git.is_dir():
        return dot_git
    if dot_git.is_file():
        try:
            text = dot_git.read_text().strip()
        except OSError:
            return None
        if text.startswith("gitdir:"):
            target = Path(text[7:].strip())
            return target if target.is_absolute() else (Path(folder) / target).resolve()
        return None
    parent = os.path.dirname(folder)
    return None if parent == folder else _git_of(parent)


def _available() -> Optional[str]:
    return None


@hookimpl
def cab_sandboxes():
    return [
        Sandbox(
            name="local",
            open=LocalSession,
            available=_available,
            description="this machine; with bwrap installed: no network, and an allow-list root (the system, the "
                        "toolchains, the agent's install and the cell's folders; nothing else of the host)",
        )
    ]
