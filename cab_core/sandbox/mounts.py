"""What the local sandbox shows of the host: an allow-list of mounts, built per command.

Nothing of the host is visible unless it is on this list (read-only unless stated):

- **the system**: ``/usr`` and the ``/bin``, ``/sbin``, ``/lib*`` beside it (as the
  symlinks they are on a merged-/usr system), ``/etc`` without its secrets
  (:data:`ETC_SECRETS`: shadow files, ssh host keys, private TLS keys, keytabs, ...);
- **the toolchains**: every ``PATH`` folder of the command's environment, the home of
  each toolchain binary found there (``.../node-v20/bin/node`` brings ``.../node-v20``),
  the folders named by ``RUSTUP_HOME``, ``CARGO_HOME``, ``GOROOT``, ``JAVA_HOME``, and the
  **Python runtime**: for the ``python3``/``python`` first on ``PATH``, its prefix, its base
  interpreter's prefix and every folder of its ``sys.path`` (asked of that Python once);
  a mounted virtual environment brings its base interpreter too;
- **what the command is**: an absolute ``argv[0]``; the harness's own Python, when the
  command is ``python -m MODULE`` or ``python SCRIPT`` run with it, becomes the base
  interpreter with only MODULE's import closure (or SCRIPT) mounted, under
  :data:`PYTHON_DIR` — never the harness's virtual environment or its checkout;
- **what was declared**: the adapter's and the task's :class:`~cab_core.models.Mount`\\ s;
- **the cell's own folders**: the work directory and private HOME (writable), private
  tmpfs ``/tmp``, ``/var/tmp``, ``/run``, ``/dev/shm``; a fresh ``/proc`` of the
  sandbox's own pid namespace and a minimal ``/dev``.

A mount never exposes a *protected root* (:func:`protected_roots`: the harness user's
HOME, the cab cache, the harness's checkout, the results, ``/``): a derived mount that
is one of them or holds one is skipped (and listed as such), a declared one is an error.
Inside any mount, the credential files of the harness user's HOME
(:data:`CREDENTIAL_PATHS`) and whatever the runner asks to hide (the task's solution,
other tasks, the results) are covered by empty read-only mounts.
"""

from __future__ import annotations

import bisect
import functools
import json
import os
import shutil
import subprocess
import sys
from glob import glob
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import attrs

from ..models import Mount
from .procs import is_harness_python as _is_harness_python

#: Files of the harness user's home that hold credentials: never shown to an agent.
CREDENTIAL_PATHS = (
    ".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".netrc", ".npmrc", ".pypirc", ".git-credentials",
    ".config/gh", ".config/gcloud", ".config/hub", ".config/git/credentials", ".cargo/credentials",
    ".cargo/credentials.toml", ".claude", ".claude.json", ".codex", ".config/opencode", ".local/share/opencode",
    ".pi/agent/auth.json", ".aider.conf.yml", ".env",
)
#: The system folders, shown whole (``/etc`` minus :data:`ETC_SECRETS`).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
#: Globs below ``/etc`` that hold secrets: covered by empty read-only mounts.
ETC_SECRETS = (
    "shadow", "shadow-", "gshadow", "gshadow-", "security/opasswd", "ssh/ssh_host_*key", "ssh/*_key",
    "ssl/private", "pki/tls/private", "pki/*/private", "*.keytab", "krb5.keytab", "ipsec.secrets", "ppp/*-secrets",
    "wireguard", "NetworkManager/system-connections", "letsencrypt", "docker/key.json", "docker/daemon.json",
    "credstore", "credstore.encrypted", "sudoers", "sudoers.d", "environment", "netrc", "openvpn", "rancher",
    "kubernetes", "cab", "apt/auth.conf", "apt/auth.conf.d", "containers/auth.json", "npmrc", "pip.conf",
    "gitconfig.d", "git-credentials", "*.pem.key", "ssl/*.key", "pki/*/*.key",
)
#: Environment variables naming a toolchain's home.
TOOLCHAIN_HOMES = ("RUSTUP_HOME", "CARGO_HOME", "GOROOT", "JAVA_HOME")
#: Binaries whose real location names their toolchain's home (``<home>/bin/<name>``).
TOOLCHAIN_BINARIES = ("python3", "python", "cargo", "rustc", "node", "npm", "npx", "go", "gcc", "cc", "javac",
                      "java", "make", "cmake")
#: Where the harness's Python packages for ``python -m MODULE`` appear inside the sandbox.
PYTHON_DIR = "/run/cab/python"

_QUERY = ("import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, "
          "sys.base_exec_prefix, sys.path]))")


@attrs.frozen(kw_only=True)
class View:
    """One command's view of the host: what is mounted, what is covered inside it, what was refused."""

    mounts: tuple[Mount, ...] = ()
    #: (inside path, host path) read-only binds at another path (the harness Python's packages).
    placed: tuple[tuple[str, str], ...] = ()
    hidden: tuple[Path, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    argv: tuple[str, ...] = ()
    #: Every cover inside the mounts, present or not (``hidden`` is those that exist, checked per command).
    covered: tuple[Path, ...] = ()

    def refreshed(self) -> "View":
        """This view with ``hidden`` checked again (a cover that appeared since it was built is covered)."""
        return attrs.evolve(self, hidden=tuple(p for p in self.covered if os.path.lexists(p)))


def _under(path, folder) -> bool:
    """Whether ``path`` is ``folder`` or inside it (absolute, normalised paths; string work: this runs often)."""
    path, folder = str(path), str(folder)
    return path == folder or path.startswith(folder if folder.endswith("/") else folder + "/")


def _abs(path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path))))


# --------------------------------------------------------------------------- what is never mounted


def harness_root() -> Optional[Path]:
    """The checkout cab runs from (an editable install), or None when installed as a package."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() or (root / ".git").exists() else None


def protected_roots(extra: Iterable[Path] = ()) -> list[Path]:
    """Folders no mount may be or contain: ``/``, HOME, the cab caches, the harness's checkout, ``extra``."""
    from ..agents import agents_dir

    roots = [Path("/"), _abs(Path.home()), _abs(agents_dir()).parent]
    for var in ("CAB_CACHE", "CAB_CACHE_DIR"):  # the task cache's and the test runtimes' (may differ)
        if os.environ.get(var):
            roots.append(_abs(os.environ[var]))
    root = harness_root()
    if root is not None:
        roots.append(root)
    roots += [_abs(p) for p in extra]
    return list(dict.fromkeys(roots))


@functools.lru_cache(maxsize=1)
def private_roots() -> tuple[Path, ...]:
    """The harness's own install: its virtual environment and its checkout.

    Nothing at or inside them is ever derived as a mount (a PATH folder, a toolchain's
    home, a Python's ``sys.path``): the runner puts the harness interpreter's folder on
    the agent's PATH, and its environment holds the harness's site-packages and the
    editable finders naming the checkout.  What of it a command needs (the harness's
    Python running a module) is bound one package at a time instead (:func:`harness_python`).
    """
    roots = [_abs(sys.prefix)] if sys.prefix != sys.base_prefix else []
    root = harness_root()
    if root is not None:
        roots.append(root)
    return tuple(dict.fromkeys(roots))


def private_refusal(path) -> Optional[str]:
    """Why a derived mount of ``path`` is refused (it is in the harness's own install), or None."""
    for root in private_roots():
        if _under(path, root):
            return f"it is the harness's own install ({root})"
    return None


def refusal(path: Path, protected: Sequence[Path]) -> Optional[str]:
    """Why ``path`` may not be mounted (it is, or holds, a protected root), or None."""
    for root in protected:
        if _under(root, path):
            return f"it would expose {root}"
    return None


@functools.lru_cache(maxsize=4)
def etc_secrets(etc: str = "/etc") -> tuple[Path, ...]:
    """The secret files and folders below ``/etc`` (:data:`ETC_SECRETS`) on this host."""
    found: list[Path] = []
    for pattern in ETC_SECRETS:
        found += [Path(p) for p in glob(os.path.join(etc, pattern))]
    return tuple(sorted(set(found)))


def credential_paths() -> list[Path]:
    """The harness user's credential files (:data:`CREDENTIAL_PATHS`)."""
    home = _abs(Path.home())
    return [] if str(home) in ("/", "") else [home / rel for rel in CREDENTIAL_PATHS]


# --------------------------------------------------------------------------- derived mounts


@functools.lru_cache(maxsize=32)
def python_runtime(python: str, path_var: str) -> tuple[str, ...]:
    """The folders ``python`` needs: its prefixes and its ``sys.path`` (asked once, outside any sandbox)."""
    try:
        proc = subprocess.run([python, "-c", _QUERY], capture_output=True, text=True, timeout=30, cwd="/",
                              env={"PATH": path_var, "LC_ALL": "C.UTF-8"}, stdin=subprocess.DEVNULL)
        prefix, base, exec_prefix, base_exec, path = json.loads(proc.stdout)
    except (OSError, ValueError, subprocess.SubprocessError):
        return ()
    out = [prefix, base, exec_prefix, base_exec, *path]
    return tuple(dict.fromkeys(p for p in out if isinstance(p, str) and os.path.isabs(p) and os.path.exists(p)))


@functools.lru_cache(maxsize=256)
def venv_base(folder: Path) -> Optional[Path]:
    """The base interpreter's prefix of the virtual environment at ``folder``, if it is one."""
    try:
        text = (folder / "pyvenv.cfg").read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            home = Path(value.strip())
            return home.parent if home.name == "bin" else home
    return None


def toolchain_home(binary: Path) -> Path:
    """``<home>`` for a binary at ``<home>/bin/<name>``, else its folder."""
    return binary.parent.parent if binary.parent.name == "bin" else binary.parent


def toolchain_mounts(env: Mapping[str, str]) -> list[Mount]:
    """What the command's environment points at: PATH folders, toolchain homes, the Python runtime."""
    return list(_toolchain_mounts(env.get("PATH", ""), tuple((k, env.get(k, "")) for k in TOOLCHAIN_HOMES)))


@functools.lru_cache(maxsize=32)
def _toolchain_mounts(path_var: str, homes: tuple[tuple[str, str], ...]) -> tuple[Mount, ...]:
    out: list[Mount] = []
    # The PATH the command will see: the harness's own folders are never shown (private_roots).
    path_var = os.pathsep.join(p for p in path_var.split(os.pathsep) if not (p and private_refusal(_abs(p))))
    folders = [Path(p) for p in path_var.split(os.pathsep) if p and os.path.isabs(p) and os.path.isdir(p)]
    for folder in folders:
        out.append(Mount(path=folder, why="a folder on PATH"))
        for name in TOOLCHAIN_BINARIES:
            binary = folder / name
            if os.access(binary, os.X_OK) and not binary.is_dir():
                real = binary.resolve()
                if real != binary:
                    out.append(Mount(path=toolchain_home(real), why=f"the toolchain of {name} on PATH"))
    for var, value in homes:
        if value and os.path.isabs(value) and os.path.isdir(value):
            out.append(Mount(path=Path(value), why=f"${var}"))
    seen = set()
    for name in ("python3", "python"):
        python = shutil.which(name, path=path_var)
        key = python and (os.path.dirname(python), os.path.realpath(python))  # venv/bin/python is venv/bin/python3
        if python and key not in seen:
            seen.add(key)
            out += [Mount(path=Path(p), why=f"the Python runtime of {python}") for p in python_runtime(python, path_var)]
    return tuple(out)


def _private_skips(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """The PATH folders of ``env`` that are the harness's own install (left out, and listed as such)."""
    out = []
    for part in env.get("PATH", "").split(os.pathsep):
        why = part and os.path.isabs(part) and private_refusal(_abs(part))
        if why:
            out.append((str(_abs(part)), why))
    return out


def base_python() -> str:
    """The interpreter behind the harness's virtual environment (no site-packages of the harness)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def harness_python(argv: Sequence[str]) -> tuple[list[str], list[Mount], list[tuple[str, str]]]:
    """Rewrite a command run with the harness's own Python so it needs nothing of the harness's install.

    ``python [flags] -m MODULE ARGS`` runs MODULE with only the packages importing it
    loads (beyond the standard library) bound under :data:`PYTHON_DIR`; ``python
    [flags] SCRIPT ARGS`` gets SCRIPT alone.  Both run the base interpreter.
    Returns the new argv, the mounts and the ``(inside, host)`` placed binds.
    """
    argv = list(argv)
    # The harness's Python may come after a wrapper (``strace -f ... python -m X``, ``env A=B python ...``).
    at = next((i for i, word in enumerate(argv) if _is_harness_python(word)), None)
    if at is None:
        return argv, [], []
    prefix, argv = argv[:at], argv[at:]
    rest, flags = argv[1:], []
    while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-c", "-"):
        takes_value = rest[0] in ("-W", "-X") and len(rest) > 1
        flags += rest[:2] if takes_value else rest[:1]
        rest = rest[2:] if takes_value else rest[1:]
    python = base_python()
    mounts = [Mount(path=Path(sys.base_prefix), why="the harness's Python interpreter")]
    if len(rest) >= 2 and rest[0] == "-m":
        from .docker import module_closure  # the docker sandbox's: the same closure, computed once

        placed = []
        for top, host_path in sorted(module_closure(rest[1]).items()):
            name = top if Path(host_path).is_dir() else Path(host_path).name
            placed.append((f"{PYTHON_DIR}/{name}", host_path))
        boot = (f"import runpy, sys; sys.path.insert(0, {PYTHON_DIR!r}); "
                f"runpy.run_module({rest[1]!r}, run_name='__main__', alter_sys=True)")
        return [*prefix, python, *flags, "-c", boot, *rest[2:]], mounts, placed
    if rest and os.path.isabs(rest[0]) and os.path.isfile(rest[0]):
        mounts.append(Mount(path=Path(rest[0]), why="the script run by the harness's Python"))
    return [*prefix, python, *flags, *rest], mounts, []


# --------------------------------------------------------------------------- the view


def collapse(mounts: Iterable[Mount]) -> list[Mount]:
    """One mount per folder, the outermost of nested ones with the same writability, parents first."""
    by_path: dict[Path, Mount] = {}
    for mount in mounts:
        path = _abs(mount.path)
        old = by_path.get(path)
        if old is None or (mount.writable and not old.writable):
            by_path[path] = attrs.evolve(mount, path=path)
    kept = []
    for path in sorted(by_path, key=lambda p: (len(p.parts), str(p))):
        mount = by_path[path]
        outer = [k for k in kept if _under(path, k.path)]
        if outer and outer[-1].writable == mount.writable:
            continue
        kept.append(mount)
    return kept


def _ancestors(path: str) -> Iterable[str]:
    """``path`` and each folder above it, as strings."""
    while True:
        yield path
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def cover_index(hide: Iterable[Path]) -> dict[str, Path]:
    """What is covered inside any mount: the credential files and ``hide``, by path string, sorted."""
    covers = {str(p): p for p in (*credential_paths(), *(_abs(p) for p in hide))}
    return dict(sorted(covers.items()))


def _covered_below(folder: str, keys: list[str]) -> list[str]:
    """The entries of sorted ``keys`` strictly inside ``folder``."""
    prefix = folder.rstrip("/") + "/"
    found = []
    for key in keys[bisect.bisect_left(keys, prefix):]:
        if not key.startswith(prefix):
            break
        found.append(key)
    return found


def build_view(argv: Sequence[str], env: Mapping[str, str], *, declared: Sequence[Mount] = (),
               hide: Sequence[Path] = (), protected: Sequence[Path] = (),
               covers: Optional[dict[str, Path]] = None) -> View:
    """The mounts, covers and rewritten argv of one command (see the module docstring).

    Runs per command: membership is checked by walking a path's few ancestors through
    sets, never by comparing every pair (a catalog brings hundreds of hidden folders).
    """
    argv, python_mounts, placed = harness_python(argv)
    # Derived from the environment (never the harness's own install), then what the command itself is.
    found = [(m, True) for m in toolchain_mounts(env)] + [(m, False) for m in python_mounts]
    if argv and os.path.isabs(argv[0]) and os.path.exists(argv[0]):
        found.append((Mount(path=Path(argv[0]), why="the command"), False))
    covers = cover_index(hide) if covers is None else covers
    skipped: list[tuple[str, str]] = _private_skips(env)
    kept: list[Mount] = []
    for mount, from_env in [*((m, False) for m in declared), *found]:
        path = _abs(mount.path)
        text = str(path)
        if not path.exists():
            skipped.append((text, "it does not exist"))
            continue
        private = private_refusal(text) if from_env else None
        if private:  # e.g. a Python runtime's sys.path entry, a venv named by a toolchain link
            skipped.append((text, private))
            continue
        if not mount.writable and any(_under(text, s) for s in SYSTEM_DIRS):
            continue  # shown already
        why_not = refusal(path, protected) or next((f"{c} is hidden" for c in _ancestors(text) if c in covers), None)
        if why_not:
            skipped.append((text, why_not))
            continue
        kept.append(mount)
        base = venv_base(path) if path.is_dir() else None
        if base is not None and base.is_dir() and not refusal(base, protected):
            kept.append(Mount(path=base, why=f"the base interpreter of the virtual environment {path}"))
    mounts = collapse(kept)
    keys = list(covers)
    inside = {c for m in mounts for c in _covered_below(str(m.path), keys)}
    covered = sorted((covers[c] for c in inside), key=lambda p: (len(p.parts), str(p)))
    return View(mounts=tuple(mounts), placed=tuple(placed), skipped=tuple(dict.fromkeys(skipped)), argv=tuple(argv),
                covered=tuple(covered)).refreshed()


#: Views already built in this process, by everything that decides them (see :func:`cached_view`).
_VIEWS: dict[tuple, View] = {}


def cached_view(argv: Sequence[str], env: Mapping[str, str], *, declared: Sequence[Mount], hide: Sequence[Path],
                protected: Sequence[Path], covers: dict[str, Path]) -> View:
    """:func:`build_view`, built once per process for the same command, environment and lists.

    The same agent command in the same environment gets the same mounts in every cell of
    a sweep; only whether each cover exists is checked again per command (a credential
    file created mid-sweep is still covered).  The cell's own folders are never part of a
    view (they are the sandbox's ``writable`` binds), so nothing of one cell reaches another.
    """
    key = (tuple(argv), tuple(env.get(k) for k in ("PATH", *TOOLCHAIN_HOMES)), tuple(declared), tuple(hide),
           tuple(protected), str(Path.home()))
    view = _VIEWS.get(key)
    if view is None:
        if len(_VIEWS) >= 256:
            _VIEWS.clear()
        view = _VIEWS[key] = build_view(argv, env, declared=declared, covers=covers, protected=protected)
        return view
    return view.refreshed()


def check_declared(mounts: Sequence[Mount], protected: Sequence[Path]) -> None:
    """Raise ValueError naming the first declared mount that would expose a protected root."""
    for mount in mounts:
        why_not = refusal(_abs(mount.path), protected)
        if why_not:
            raise ValueError(f"mount {mount.path} ({mount.why or 'declared'}) is refused: {why_not}")


def system_args() -> list[str]:
    """bwrap arguments for the system folders (symlinks stay symlinks) and /etc's covers."""
    args: list[str] = []
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    for secret in etc_secrets():
        args += _cover(secret)
    return args


def _cover(path: Path) -> list[str]:
    """An empty read-only stand-in for ``path`` (a folder or a file)."""
    if path.is_dir() and not path.is_symlink():
        return ["--size", "4096", "--tmpfs", str(path), "--remount-ro", str(path)]
    return ["--ro-bind", "/dev/null", str(path)]


def mount_args(view: View) -> list[str]:
    """bwrap arguments for the view's mounts, placed binds and covers (after the tmpfs folders)."""
    args: list[str] = []
    for mount in view.mounts:
        args += ["--bind" if mount.writable else "--ro-bind", str(mount.path), str(mount.path)]
    for inside, host in view.placed:
        args += ["--ro-bind", host, inside]
    for path in view.hidden:
        args += _cover(path)
    return args


def describe_mounts(mounts: Iterable[Mount]) -> list[dict]:
    """The mounts as plain records (for ``describe()`` and the cell record)."""
    return [{"path": str(m.path), "writable": m.writable, "why": m.why} for m in mounts]
