"""The ``cab`` entry points of the installed distributions, read once and kept beside them (issue 16).

Listing entry points with :mod:`importlib.metadata` reads the ``entry_points.txt`` of
every distribution on ``sys.path`` (a hundred files in a typical virtual environment)
and parses the metadata of those in the group; importing it brings the email parser,
zipfile and csv.  Together that was about a tenth of every ``cab`` start.

Here the group's entry points, each with its distribution's name and version, are kept
in a small JSON file inside the virtual environment, beside the code they name (whoever
can write the file can already write that code), and used while the *stamp* is the
same: ``sys.path``, and for each of its folders the names of its ``*.dist-info`` and
``*.egg-info`` entries, each with its inode and the inode, size and mtime of its
``entry_points.txt``.  Installing, removing, upgrading or reinstalling a distribution
changes those (pip writes a new ``.dist-info`` folder, with a new ``METADATA``), and
so does a folder added to ``PYTHONPATH``; then the entry points are read again with
importlib.metadata and kept under the new stamp (the last few stamps are kept: ``cab``
and ``python -m pytest`` see different ``sys.path``).  Outside a virtual environment, or where the file cannot be
written or read, nothing is kept and every start reads them as before.

:func:`version` keeps, under the same stamp, the version of a distribution that is not a
plugin (the price database's, which every record names): looked up with
importlib.metadata once, then read from the file (with its ``METADATA``'s stat checked),
so a sweep's start need not import importlib.metadata at all.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Optional

#: Bumped when what the file holds changes shape.
CACHE_VERSION = 1
#: Stamps kept in the file (the ``cab`` script, ``python -m cab_core.cli``, pytest: each its own ``sys.path``).
KEPT_STAMPS = 8
_INFO_SUFFIXES = (".dist-info", ".egg-info")
#: importlib.metadata's own pattern for an entry point's value: ``module[:attr.path] [extras]``.
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


class EntryPoint:
    """An entry point as the cache keeps it: its name and value, and its distribution's name and version."""

    __slots__ = ("name", "value", "group", "distribution", "version")

    def __init__(self, name: str, value: str, group: str, distribution: Optional[str], version: Optional[str]):
        self.name, self.value, self.group = name, value, group
        self.distribution, self.version = distribution, version

    def load(self) -> object:
        """Import the module the value names and return the attribute it names (as importlib.metadata does)."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point {self.name!r}: not a module[:attribute] value: {self.value!r}")
        module = importlib.import_module(match.group("module"))
        attrs = filter(None, (match.group("attr") or "").split("."))
        obj: object = module
        for attr in attrs:
            obj = getattr(obj, attr)
        return obj

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"


def cache_file() -> Optional[Path]:
    """Where the entry points are kept: inside the running virtual environment (``None`` outside one)."""
    if sys.prefix == getattr(sys, "base_prefix", sys.prefix) or os.environ.get("CAB_NO_ENTRY_POINT_CACHE") == "1":
        return None
    return Path(sys.prefix) / ".cab-entry-points.json"


def stamp() -> str:
    """What the entry points depend on (see the module's docstring), as one digest."""
    parts: list = [sys.version, os.getcwd() if "" in sys.path else None, *sys.path]
    for entry in sys.path:
        folder = entry or "."
        try:
            infos = sorted((e.name, e.inode()) for e in os.scandir(folder) if e.name.endswith(_INFO_SUFFIXES))
        except OSError:  # a zip, a placeholder of an import hook, a missing folder
            parts.append(repr(_stat(folder)))
            continue
        for name, inode in infos:  # a reinstall is a new folder (a new inode) with a new METADATA
            parts.append(f"{name} {inode} {_stat(os.path.join(folder, name, 'entry_points.txt'))}")
    return hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()


def _stat(path: str) -> Optional[tuple]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


#: The stamp this process last computed, with the ``sys.path`` and folder it was computed for:
#: :func:`version` (once per process, after the plugins are loaded) uses it rather than stat every
#: distribution again.
_LAST: dict = {}


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group``, in importlib.metadata's order, from the cache when it is current."""
    path = cache_file()
    key = stamp() if path is not None else None
    if key is not None:
        _LAST.update(where=(tuple(sys.path), os.getcwd()), stamp=key)
    if path is not None:
        cached = _read(path, key, group)
        if cached is not None:
            return cached
    found = _scan(group)
    if path is not None:
        _write(path, key, group, found)
    return found


#: The pseudo-group under a stamp holding :func:`version`'s answers.
_VERSIONS = "@versions"


def version(distribution: str) -> Optional[str]:
    """``importlib.metadata.version(distribution)``, or ``None`` when it is not installed; kept while current.

    Kept under the stamp (an install, upgrade or removal is a new stamp), with the stat of
    the distribution's ``METADATA`` (an edit in place is seen too).
    """
    path = cache_file()
    key = None
    if path is not None:
        same = _LAST.get("where") == (tuple(sys.path), os.getcwd())
        key = _LAST["stamp"] if same else stamp()
        try:
            kept = _load(path)[key][_VERSIONS][distribution]
            if kept["stat"] == (list(_stat(kept["metadata"]) or []) if kept["metadata"] else None):
                return kept["version"]
        except (KeyError, TypeError, AttributeError):
            pass
    found, metadata = _look_up(distribution)
    if path is not None:
        _write(path, key, _VERSIONS, {**_kept_versions(path, key), distribution: {
            "version": found, "metadata": metadata, "stat": list(_stat(metadata) or []) if metadata else None}})
    return found


def _look_up(distribution: str) -> tuple[Optional[str], Optional[str]]:
    """The version importlib.metadata finds and the ``METADATA`` file it read (``None`` for either when unknown)."""
    from importlib import metadata

    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None, None
    folder = getattr(dist, "_path", None)  # a PathDistribution's folder; others: version only, never re-checked
    return dist.version, str(Path(folder) / "METADATA") if folder is not None else None


def _kept_versions(path: Path, key: str) -> dict:
    try:
        kept = _load(path)[key][_VERSIONS]
        return kept if isinstance(kept, dict) else {}
    except (KeyError, TypeError):
        return {}


def _scan(group: str) -> list[EntryPoint]:
    from importlib import metadata

    out, fields = [], {}
    for ep in metadata.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        if dist is not None and id(dist) not in fields:
            meta = dist.metadata  # parsed once per distribution, not once per entry point
            fields[id(dist)] = (meta["Name"], meta["Version"])
        name, version = fields.get(id(dist), (None, None))
        out.append(EntryPoint(ep.name, ep.value, group, name, version))
    return out


def _load(path: Path) -> dict:
    """The file's ``{stamp: {group: rows}}`` (empty when missing, unreadable or of another version)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("stamps"), dict):
        return {}
    return data["stamps"]


def _read(path: Path, key: str, group: str) -> Optional[list[EntryPoint]]:
    try:
        rows = _load(path)[key][group]
        return [EntryPoint(str(r["name"]), str(r["value"]), group, r.get("distribution"), r.get("version"))
                for r in rows]
    except (KeyError, TypeError, AttributeError):
        return None


def _write(path: Path, key: str, group: str, found) -> None:
    if isinstance(found, dict):  # :data:`_VERSIONS`
        rows: object = found
    else:
        rows = [{"name": e.name, "value": e.value, "distribution": e.distribution, "version": e.version} for e in found]
    stamps = _load(path)
    kept = stamps.pop(key, None)  # re-inserted last: the most recent stamp; its other groups kept
    stamps[key] = {**(kept if isinstance(kept, dict) else {}), group: rows}
    stamps = dict(list(stamps.items())[-KEPT_STAMPS:])  # the most recent last
    text = json.dumps({"version": CACHE_VERSION, "stamps": stamps}, indent=1)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".cab-entry-points-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)  # atomic: a concurrent cab reads the old file or the new one
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:  # a read-only install: read every time, as before
        pass


__all__ = ["CACHE_VERSION", "EntryPoint", "cache_file", "entry_points", "stamp", "version"]
