"""The docker sandbox: each command of a cell runs in a fresh container of the cell's image.

The runner's two commands, the agent and then the verify step, each get their own
container of the same image (the adapter's, ``cab/base:bookworm`` when it has none;
see :mod:`cab_core.images`), so a task's toolchain comes from the image and nothing
the agent started survives into the tests.  Containers are created, started, killed,
inspected and removed with the docker SDK (one client per process, over the daemon's
Unix socket: a ``docker`` CLI process per call would cost more than the call).  Each
command is handed to a container started ahead and waiting for it (:mod:`.standby`):
made while something else ran when one with exactly the command's configuration is
there (the verify step's while the agent runs, the next cell's while this cell runs:
:mod:`.dockerpool`), else on the spot; its exit code is the one the daemon announces
(:mod:`.dockerevents`: no ``wait`` and inspect after each command); removal happens in
the background.  A command's processes all end with its container (the kernel kills
its PID namespace), so no scan of ``/proc`` for the cell's marker follows it.

- network mode ``none`` (only a loopback; never a bridge): the recording proxy is
  reached through its Unix socket (hard-linked into the container's own read-only
  ``/run/cab``) with cab's forwarder (standard library only, run by the image's
  ``python3``) listening on the container's own ``127.0.0.1:<proxy port>``;
- the work directory and the cell's other writable folders bind-mounted read-write
  at the same paths (so what the agent changes is on the host when the container
  ends, and the host paths in a launch stay valid); nothing else of the host is
  visible; the image's file system is read-only and ``/tmp`` a private tmpfs;
- stdin closed, a terminal whose output is recorded as asciicast, like the local
  sandbox's; the host user's uid, every capability dropped, no new privileges,
  docker's init as PID 1;
- resource limits, the local sandbox's (:mod:`cab_core.sandbox.limits`: ``-o limit.pids=``,
  ``limit.memory=``, ``limit.disk=`` or ``CAB_LIMIT_*``) enforced by docker: pids
  (default 1024), memory (default 4 GiB: a container always has a memory limit),
  CPUs (``CAB_DOCKER_CPUS``, default and at most the host's), the disk the mounted
  folders may grow to (measured while the command runs) and ``/tmp``'s size;
  ``open(memory=, cpus=, pids=)`` overrides them.  A breach stops the container and
  is reported as ``limit exceeded: ...`` like the local sandbox's.  Ulimits are the
  daemon's (never raised above the host's);
- a hard timeout: the container is killed and removed when it passes (and a
  ``timeout -s KILL`` inside ends it anyway should the harness die); every container
  carries the labels ``cab.cell=<marker>`` and ``cab.session=<id>``.

The launch is built on the host, so its host paths are translated: the harness's own
Python becomes the image's ``python3`` (for ``-m MODULE`` the Python packages that
importing MODULE loads beyond the standard library, e.g. an adapter's relay and
``cab_core``, are bind-mounted read-only under ``/opt/cab/python``); paths in the host's
agent cache (:func:`cab_core.agents.agents_dir`) become paths under the image's
``/opt/cab/agents``, where agent images install their agent with the same layout;
``PATH`` is the image's (plus any such mapped folder); the host's ``RUSTUP_HOME`` and
``CARGO_HOME`` are dropped (the image has its own toolchains).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path
from typing import Optional, Sequence

from .. import images
from ..errors import CabError, InfraError
from ..models import ProcessResult, Sandbox
from ..plugins import hookimpl
from . import dockerevents, dockerpool, procs, quiet, standby
from .dockerfollow import follow
from .dockerpool import settle  # noqa: F401  (re-exported: background removals, waited for)
from .limits import DEFAULT_MEMORY, DiskWatch, Limits, human, parse_count, parse_size  # noqa: F401 (re-exported)
from .pty import DEFAULT_OUTPUT_CAP

IN_CONTAINER = standby.RUN_IN
RELAY = f"{IN_CONTAINER}/forwarder.py"
PYTHON_DIR = "/opt/cab/python"
#: Seconds the in-container backstop waits past the timeout before it kills the container itself.
BACKSTOP_GRACE = 30
#: The host's toolchain locations, which mean nothing in an image with its own.
HOST_ONLY_ENV = ("RUSTUP_HOME", "CARGO_HOME")
from .containers import (  # noqa: F401  (re-exported: tests and callers import them from here)
    CGROUP_ROOT, LABEL_CELL, _host_agents_dir, _host_cpus, LABEL_SESSION, _active_ms, _connect, _container_cgroups, _is_harness_python, _kill,
    _one_line, _remove, _state, _Watch, module_closure, remove_containers,
)

def _under(path: str, folders: Sequence[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


class DockerSession:
    """Runs a cell's commands in containers of one image (see the module docstring)."""

    name = "docker"

    def __init__(
        self,
        *,
        image: Optional[str] = None,
        proxy_socket: Optional[Path] = None,
        proxy_port: Optional[int] = None,
        limits=None,
        memory=None,
        cpus: Optional[float] = None,
        pids=None,
        docker_client=None,
        hide: Sequence[Path] = (),
        mounts: Sequence = (),
        workdir: Optional[Path] = None,
        home: Optional[Path] = None,
    ):
        # ``hide`` and ``mounts`` are the local sandbox's view of the host: a container sees
        # only its image and the cell's folders, so both are moot here (``workdir`` and
        # ``home`` are mounted per command).  Every keyword is named: a misspelt one is a
        # TypeError, not silently ignored.
        self.limits = limits if isinstance(limits, Limits) else Limits.from_options(limits)
        self.memory = parse_size(memory, "memory") if memory is not None else (self.limits.memory or DEFAULT_MEMORY)
        self.pids = parse_count(pids, "pids") if pids is not None else self.limits.pids
        host = _host_cpus()
        self.cpus = min(float(cpus or os.environ.get("CAB_DOCKER_CPUS") or host), host)
        # One client for the process (connecting costs a few tens of ms a cell); never closed by a session.
        self._close_client = docker_client is not None
        self.client = docker_client or dockerpool.client()
        self._ends = dockerevents.ends(self.client)  # exit codes as the daemon announces them
        self.image = image or images.DEFAULT_IMAGE
        self.image_id, self.image_path = self._inspect_image(self.image)
        self.proxy_socket = Path(proxy_socket) if proxy_socket else None
        self.proxy_port = proxy_port
        self.session_id = uuid.uuid4().hex
        self.host_agents = _host_agents_dir()
        self.workdir = Path(workdir).resolve() if workdir is not None else None
        self._used: list[standby.Standby] = []  # removed when the session closes
        self._standbys: list[dict] = []  # see prewarm()
        self._slot = dockerpool.claim(self.workdir)  # this cell's containers, made while the last one ran
        self._verify_template: Optional[tuple] = None
        self._prepared = False
        self._when_started: list = []  # see when_started()

    # ------------------------------------------------------------------ the image
    def _inspect_image(self, ref: str) -> tuple[str, str]:
        from docker.errors import ImageNotFound

        try:
            image = self.client.images.get(ref)
        except ImageNotFound:
            raise InfraError(f"docker image {ref!r} is not there (build it: cab images build"
                             f"{'' if ref == images.DEFAULT_IMAGE else ' --adapter NAME'}; "
                             f"cab images list shows what exists)") from None
        env = (image.attrs.get("Config") or {}).get("Env") or []
        path = next((e.split("=", 1)[1] for e in env if e.startswith("PATH=")),
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        from ..image_transfer import pushed_reference

        self.image_ref = pushed_reference(image)  # where it can be pulled from, once pushed (cab images push)
        return images.image_digest(image), path

    def describe(self) -> dict:
        """The cell's record of where it ran: the image by name and by ID, the network, the limits."""
        return {
            "sandbox": "docker",
            "isolation": "docker",
            "container_image": self.image,
            "image_digest": self.image_id,
            "image_ref": self.image_ref,
            "network": "none",
            "limits": {"pids": self.pids, "disk": self.limits.disk, "memory": self.memory, "cpus": self.cpus,
                       "files": self.limits.files},
        }

    def endpoint_host(self) -> str:
        """Where the agent reaches the proxy: the container's own loopback."""
        return "127.0.0.1"

    # ------------------------------------------------------------------ translating the launch
    def _map_path(self, value: str) -> str:
        cache = self.host_agents
        if cache and _under(value, [cache]):
            return images.IMAGE_AGENTS_DIR + value[len(cache.rstrip("/")):]
        return value

    def _python(self, argv: list[str], mounts: list) -> list[str]:
        """The harness's Python becomes the image's; ``-m MODULE`` gets MODULE's packages mounted."""
        from docker.types import Mount

        rest, flags = argv[1:], []
        while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-c"):
            takes_value = rest[0] in ("-W", "-X") and len(rest) > 1
            flags += rest[:2] if takes_value else rest[:1]
            rest = rest[2:] if takes_value else rest[1:]
        if len(rest) < 2 or rest[0] != "-m":
            return ["python3", *flags, *rest]
        module = rest[1]
        for top, host_path in module_closure(module).items():
            target = f"{PYTHON_DIR}/{top}" if Path(host_path).is_dir() else f"{PYTHON_DIR}/{Path(host_path).name}"
            mounts.append(Mount(target, host_path, type="bind", read_only=True))
        boot = (f"import runpy, sys; sys.path.insert(0, {PYTHON_DIR!r}); "
                f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
        return ["python3", *flags, "-c", boot, *rest[2:]]

    def _env(self, env: dict, mounted: list[str]) -> dict:
        out = {}
        for key, value in env.items():
            if key in HOST_ONLY_ENV and not _under(str(value), mounted):
                continue
            out[key] = self._map_path(str(value))
        extra = [self._map_path(p) for p in str(env.get("PATH", "")).split(os.pathsep) if p]
        extra = [p for p in extra if p.startswith(images.IMAGE_AGENTS_DIR + "/") or _under(p, mounted)]
        out["PATH"] = os.pathsep.join(dict.fromkeys([*extra, *self.image_path.split(os.pathsep)]))
        return out

    def _proxy_live(self) -> bool:
        return bool(self.proxy_socket and self.proxy_port and self.proxy_socket.exists())

    def container_spec(self, argv: Sequence[str], *, cwd: Path, env: dict, timeout: float,
                       writable: Sequence[Path] = (), marker: Optional[str] = None, proxied: bool = True) -> dict:
        """The keyword arguments of ``containers.create`` for one command (no side effects but imports).

        ``proxied=False`` leaves the model proxy out even while it runs (a standby verify container).
        """
        from docker.types import Mount

        folders: list[str] = []
        for path in [Path(cwd), *map(Path, writable)]:
            text = str(path.resolve())
            if not _under(text, folders):
                folders = [f for f in folders if not _under(f, [text])] + [text]
        mounts = [Mount(f, f, type="bind") for f in folders]
        argv = [self._map_path(str(a)) for a in argv]
        if argv and _is_harness_python(argv[0]):
            argv = self._python(argv, mounts)
        command = argv
        # The proxy is there for the agent; by the verify step it has stopped and its socket is gone.
        # Both are in the container's own read-only /run/cab (see :mod:`.standby`).
        if proxied and self._proxy_live():
            command = ["python3", "-I", "-S", RELAY, str(self.proxy_port), f"{IN_CONTAINER}/proxy.sock", "--", *command]
        # The backstop: should the harness die, the container still ends (its PID 1 exits).
        command = ["timeout", "-s", "KILL", str(int(timeout) + BACKSTOP_GRACE), *command]
        return {
            "image": self.image_id,
            "command": command,
            "entrypoint": [],
            "tty": True,
            "stdin_open": False,
            "environment": self._env(env, folders),
            "working_dir": str(Path(cwd).resolve()),
            "user": f"{os.getuid()}:{os.getgid()}",
            "hostname": "cab",
            "labels": {LABEL_CELL: marker or "", LABEL_SESSION: self.session_id, "cab.image": self.image},
            "network_mode": "none",
            "mounts": mounts,
            "read_only": True,
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={self.limits.tmp_size}"},
            "mem_limit": self.memory,
            "memswap_limit": self.memory,
            "nano_cpus": int(self.cpus * 1e9),
            "pids_limit": self.pids or -1,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "init": True,
        }

    # ------------------------------------------------------------------ running
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
        """Run ``argv`` in a new container; only ``cwd`` and ``writable`` (and /tmp) can be written."""
        if interact is not None or not stdin_devnull:
            raise CabError("interactive mode needs the local sandbox (--sandbox local): docker cells have no stdin")
        if network:
            raise CabError("the docker sandbox never gives a command a network")
        spec = self.container_spec(argv, cwd=cwd, env=env, timeout=timeout, writable=writable, marker=marker)
        proxied = RELAY in spec["command"]
        if marker:  # every process of the command is in the container's PID namespace: it ends with it
            procs.note_launch(marker, contained=True)
        waiting = self._waiting_for(spec, proxied)
        folders = [Path(m["Source"]) for m in spec["mounts"] if not m["ReadOnly"]]
        watch = _Watch(waiting.container.id, DiskWatch(folders, self.limits.disk, files=self.limits.files),
                       self.pids, self.memory)
        # Followed to its end (the next command's container starts while this one runs).
        counted = []
        try:
            result = follow(waiting.container, (waiting.chunks, waiting.reader), timeout=timeout, cast_path=cast_path,
                            output_cap=output_cap or DEFAULT_OUTPUT_CAP, term=env.get("TERM", "xterm"), watch=watch,
                            memory=self.memory, running=lambda: self._running(counted), ends=self._ends)
        finally:
            if counted:
                quiet.end()
        self._prepare_next(spec, proxied)  # the next cell's containers start while this cell verifies
        if result.timed_out or result.error:
            _remove(waiting.container)  # killed: gone before the cell goes on (others go when the session closes)
        return result

    def _running(self, counted: list) -> None:
        """The command runs: count it (work that can wait is done beside it, :mod:`.quiet`), begin the
        containers made ahead, then what waits for it (:meth:`when_started`)."""
        quiet.begin()
        counted.append(True)
        self._begin_standbys()
        while self._when_started:
            self._when_started.pop(0)()

    def when_started(self, fn) -> None:
        """Call ``fn()`` once the next command runs (the runner begins its work beside the tests then)."""
        self._when_started.append(fn)

    def _waiting_for(self, spec: dict, proxied: bool) -> "standby.Standby":
        """A started container with the command handed over: one made ahead when it fits, else a new one."""
        handed = {"command": spec["command"], "env": spec["environment"], "workdir": spec["working_dir"],
                  "proxy_socket": self.proxy_socket if proxied else None}
        waiting = self._take_standby(spec)
        if waiting is not None:
            self._used.append(waiting)
            if waiting.go(**handed):
                return waiting
        # None was made ahead: the later commands' are made beside this one (the daemon makes two at
        # once in little more than the time of one), not after it.
        self._begin_standbys()
        try:  # near the proxy's socket: the hard link to it cannot cross file systems
            waiting = standby.make(self.client, spec, proxied=proxied,
                                   near=self.proxy_socket.parent if proxied else None)
        except Exception as exc:
            raise InfraError(f"docker could not create and start a container of {self.image}: {_one_line(exc)}") from None
        self._used.append(waiting)
        if not waiting.go(**handed):
            raise InfraError(f"docker: a new container of {self.image} ended before its command was handed over")
        return waiting


    # ------------------------------------------------------------------ containers made ahead
    def prewarm(self, *, cwd: Path, writable: Sequence[Path] = (), timeout: float, wait_s: float,
                marker: Optional[str] = None, env: Optional[dict] = None) -> None:
        """Start, in the background, a container for a later command in ``cwd`` (see :mod:`.standby`).

        It never sees the model proxy; it waits at most :data:`standby.WAIT_S` seconds for its
        command (``wait_s``, the runner's estimate, is not needed: every standby waits as long;
        ``env`` neither: the command's environment is handed over with it).
        The cell's slot (:mod:`.dockerpool`) may hold it already.  A failure here only means no standby.
        """
        spec = self.container_spec(["true"], cwd=cwd, env={}, timeout=timeout, writable=writable, marker=marker,
                                   proxied=False)
        key = standby.fingerprint(spec)
        self._verify_template = (spec, False)
        if self._slot is not None and self._slot.has(key):
            return  # made (or being made) while the last cell ran: the command takes it from the slot
        job: dict = {"standby": None, "key": key}

        def make() -> None:
            try:
                job["standby"] = standby.make(self.client, spec, proxied=False)
            except Exception:
                pass

        # Started with the next command (beside its own container when that is made on the spot), or
        # when a command asks for it.
        job["thread"] = threading.Thread(target=make, name="cab-docker-standby", daemon=True)
        self._standbys.append(job)

    def _begin_standbys(self) -> None:
        for job in self._standbys:
            if job["thread"].ident is None:
                job["thread"].start()

    def _take_standby(self, spec: dict) -> Optional["standby.Standby"]:
        """A waiting container made ahead with exactly ``spec``'s configuration (None: make one)."""
        key = standby.fingerprint(spec)
        if self._slot is not None and self._slot.has(key):
            waiting = self._slot.get(key)
            if waiting is not None:
                return waiting
        for job in self._standbys:
            if job["key"] != key:
                continue
            if job["thread"].ident is None:
                job["thread"].start()
            job["thread"].join(timeout=120)  # still starting: sooner than a fresh one
            waiting = job["standby"]
            if waiting is not None and not waiting.used and waiting not in self._used:
                return waiting
        return None

    def _prepare_next(self, spec: dict, proxied: bool) -> None:
        """Once per cell, for its agent's command: the next cell's containers (:mod:`.dockerpool`)."""
        if self._prepared or self.workdir is None or self._verify_template is None:
            return
        if spec["working_dir"] != str(self.workdir):
            return
        self._prepared = True
        dockerpool.prepare([(spec, proxied), self._verify_template], self.workdir.parent)

    def close(self) -> None:
        """Remove this session's containers (and any it left) in the background (:func:`settle` waits)."""
        waiting = []
        for job in self._standbys:
            if job["thread"].ident is not None:
                job["thread"].join(timeout=120)
            if job.get("standby") is not None and job["standby"] not in self._used:
                waiting.append(job["standby"])
        self._standbys = []
        if self._close_client and self._ends is not None:
            self._ends.close()  # the client is the caller's, closed with the session: so is its event stream
        dockerpool.reap_session(self.client, self.session_id, [*self._used, *waiting], self._slot,
                                close_client=self._close_client)
        self._slot = None
        self._used = []

    @staticmethod
    def reserve_root() -> Optional[Path]:
        """A cell root whose containers were made while the last cell ran (the runner makes the cell there)."""
        return dockerpool.reserve_root()


@hookimpl
def cab_sandboxes():
    return [
        Sandbox(
            name="docker",
            open=DockerSession,
            available=images.unavailable_reason,
            provides_agent=True,
            description="a fresh container per command from the adapter's image (cab images build): "
                        "network none, proxy via Unix socket, only the work folders mounted, resource limits",
        )
    ]
