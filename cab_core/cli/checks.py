"""Checks of what a user named, made before any cell runs: each failure is one line naming it.

Why before: a results folder that is a file, a cassette path that cannot be written or
a model the built-in scripted server does not serve would otherwise be found only after
the agent ran (minutes, with a real model and its cost), and the work would be lost or
turned into an infrastructure error that is not the environment's fault.  Each check
raises :class:`~cab_core.errors.CabError`, which the CLI prints as ``Error: ...`` with
exit status 2.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from ..errors import CabError, UnknownNameError


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def writable_folder(path: Path, option: str, *, create: bool = True) -> Path:
    """``path`` as a folder cab can write into, or one line why not; nothing is created here.

    ``create``: a missing folder is fine when the nearest folder that exists above it
    takes new files (cab makes the rest when it writes); otherwise it must exist.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CabError(f"{option} {path}: is a file, not a folder")
    if path.is_dir():
        _probe(path, option, path)
        return path
    if not create:
        raise CabError(f"{option} {path}: no such folder")
    above = path.absolute().parent
    while not above.exists():
        above = above.parent
    if not above.is_dir():
        raise CabError(f"{option} {path}: cannot create this folder ({above} is a file)")
    _probe(above, option, path)
    return path


def writable_file(path: Path, option: str) -> Path:
    """``path`` as a file cab can (re)write atomically: its folder exists or can be made, and takes a new file."""
    path = Path(path)
    if path.is_dir():
        raise CabError(f"{option} {path}: is a folder, not a file")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise CabError(f"{option} {path}: cannot write this file ({parent} is a file, not a folder)")
    try:
        writable_folder(parent, option)
    except CabError as exc:
        raise CabError(str(exc).replace(f"{option} {parent}: ", f"{option} {path}: ", 1)) from None
    return path


def _probe(folder: Path, option: str, named: Path) -> None:
    """Write and remove a scratch file: the one test of writability that root, ACLs and read-only mounts all answer."""
    try:
        fd, name = tempfile.mkstemp(prefix=".cab-probe-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        where = "" if folder == named else f" in {folder}"
        raise CabError(f"{option} {named}: cannot write{where} ({_reason(exc)})") from None


def endpoint_url(url: Optional[str], option: str = "--endpoint") -> None:
    """An endpoint must be an ``http(s)://host[:port]/...`` URL."""
    if url is None:
        return
    try:
        parts = urlsplit(url)
        parts.port  # raises ValueError on a port that is not a number
    except ValueError as exc:
        raise CabError(f"{option} {url!r}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CabError(f"{option} {url!r}: expected an http:// or https:// URL, e.g. https://host/v1")


def scheduler_address(address: Optional[str]) -> None:
    """A Dask scheduler address: ``tcp://HOST:PORT`` (or another Dask scheme, or ``HOST:PORT``)."""
    if address is None:
        return
    text = address if "://" in address else f"tcp://{address}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        port = None
        parts = None
    if parts is None or not parts.hostname or port is None:
        raise CabError(f"--scheduler {address!r}: expected a Dask scheduler address, e.g. tcp://127.0.0.1:8786")


#: ``-o PREFIX.KEY`` prefixes the core reads itself (the runner's ``plugin_options(opts.options, ...)``).
CORE_OPTION_PREFIXES = ("limit", "proxy")


def option_prefixes(options: dict, plugins) -> None:
    """Each ``-o PREFIX.KEY`` must address a stacked ``--plugin`` or the core (``limit.``, ``proxy.``): else it is lost."""
    stacked = list(plugins or ())
    for key in options:
        prefix = key.partition(".")[0] if "." in key else None
        if prefix is None or prefix in stacked or prefix in CORE_OPTION_PREFIXES:
            continue
        known = [*stacked, *CORE_OPTION_PREFIXES]
        from ..errors import close_matches

        near = close_matches(prefix, known)
        hint = f"did you mean {' or '.join(repr(n + '.') for n in near)}? " if near else ""
        raise CabError(f"-o {key}: {prefix!r} is neither a stacked agent plugin nor one of "
                       f"{', '.join(p + '.' for p in CORE_OPTION_PREFIXES)} ({hint}stack a plugin with --plugin {prefix})")


def scripted_model(model: str, *, endpoint: Optional[str], replay: Optional[Path]) -> None:
    """Without an endpoint, a ``scripted/...`` model must be one the built-in scripted server serves."""
    if endpoint is not None or replay is not None or not model.startswith("scripted/"):
        return
    from ..endpoint.scripted.server import ScriptedModelServer

    models = ScriptedModelServer.models()
    if model not in models:
        raise UnknownNameError("scripted model", model, models)
