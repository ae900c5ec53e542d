"""Reading a folder an agent left, without trusting anything in it.

The harness runs unsandboxed, so every read of the work tree goes through here:
folders are opened relative to their parent's descriptor with ``O_NOFOLLOW``
(a folder swapped for a symlink mid-walk is refused, not followed), files are
opened with ``O_NOFOLLOW | O_NONBLOCK`` after an ``lstat`` says they are regular
(a FIFO never blocks, a symlink to ``/dev/zero`` is never opened), and every read
stops at a size cap.  FIFOs, sockets and device files are reported and skipped.
The walk keeps its own stack (no recursion) and stops at a depth and a count.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

import attrs

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
#: How deep a walk goes (each level holds one open descriptor).
MAX_DEPTH = 200
#: How many entries a walk visits before it stops (and says so).
MAX_ENTRIES = 100_000
#: The most any single small read (a git ref, a config file) takes.
SMALL_CAP = 1 << 20

KIND_FILE, KIND_DIR, KIND_LINK, KIND_SPECIAL = "file", "dir", "link", "special"


def fs_name(raw: bytes) -> str:
    """A path as text, exactly as the file system has it (bytes that are not UTF-8 shown as ``\\xNN``)."""
    return raw.decode("utf-8", errors="backslashreplace")


@attrs.frozen(kw_only=True)
class Entry:
    """One thing found by :func:`walk`: its path relative to the root (bytes), kind and ``lstat``."""

    rel: bytes
    kind: str
    st: os.stat_result
    dir_fd: int  # the open descriptor of its folder (valid only during the walk's step)
    name: bytes

    @property
    def path(self) -> str:
        return fs_name(self.rel)


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return KIND_FILE
    if stat.S_ISDIR(mode):
        return KIND_DIR
    if stat.S_ISLNK(mode):
        return KIND_LINK
    return KIND_SPECIAL


@attrs.define
class WalkReport:
    """What a walk could not take: special files, folders too deep, entries past the count."""

    special: list = attrs.field(factory=list)
    too_deep: list = attrs.field(factory=list)
    unreadable: list = attrs.field(factory=list)
    stopped_at: Optional[int] = None


def walk(root: Union[str, Path], *, prune: Callable[[bytes, bytes, str], bool] = lambda rel, name, kind: False,
         report: Optional[WalkReport] = None, max_entries: int = MAX_ENTRIES) -> Iterator[Entry]:
    """Every entry below ``root``, parents before children, never following a symlink.

    ``prune(rel, name, kind)`` returning True skips an entry (and, for a folder, all
    below it).  Folders are yielded too; descending happens after the folder was
    yielded.  Special files are yielded with kind ``special`` (and recorded in
    ``report``); the caller decides what to do with them.
    """
    report = report if report is not None else WalkReport()
    try:
        root_fd = os.open(root, _DIR_FLAGS)
    except OSError:
        report.unreadable.append("")
        return
    stack: list[tuple[int, bytes, int]] = [(root_fd, b"", 0)]
    seen = 0
    try:
        while stack:
            fd, prefix, depth = stack.pop()
            try:
                try:
                    names = sorted(os.listdir(fd))
                except OSError:
                    report.unreadable.append(fs_name(prefix.rstrip(b"/")))
                    continue
                for name_s in names:
                    name = os.fsencode(name_s)
                    rel = prefix + name
                    seen += 1
                    if seen > max_entries:
                        report.stopped_at = max_entries
                        return
                    try:
                        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    except OSError:
                        report.unreadable.append(fs_name(rel))
                        continue
                    kind = _kind(st.st_mode)
                    if prune(rel, name, kind):
                        continue
                    if kind == KIND_SPECIAL:
                        report.special.append(fs_name(rel))
                    yield Entry(rel=rel, kind=kind, st=st, dir_fd=fd, name=name)
                    if kind == KIND_DIR:
                        if depth + 1 >= MAX_DEPTH:
                            report.too_deep.append(fs_name(rel))
                            continue
                        try:
                            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                        except OSError:
                            report.unreadable.append(fs_name(rel))
                            continue
                        stack.append((child, rel + b"/", depth + 1))
            finally:
                os.close(fd)
    finally:
        for fd, _, _ in stack:
            os.close(fd)


def open_file(name: Union[bytes, str, Path], dir_fd: Optional[int] = None) -> Optional[int]:
    """A descriptor of a regular file, or None (a symlink, FIFO, device or missing file is never opened)."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
    except OSError:
        os.close(fd)
        return None
    return fd


def read_fd(fd: int, cap: int) -> tuple[bytes, bool]:
    """Up to ``cap`` bytes of an open file; returns ``(data, truncated)``."""
    chunks, got = [], 0
    while got <= cap:
        try:
            block = os.read(fd, min(1 << 20, cap + 1 - got))
        except BlockingIOError:
            break
        if not block:
            break
        chunks.append(block)
        got += len(block)
    data = b"".join(chunks)
    return (data[:cap], True) if len(data) > cap else (data, False)


def read_capped(path: Union[str, Path], cap: int = SMALL_CAP) -> Optional[bytes]:
    """The content of a regular file (at most ``cap`` bytes), never following a symlink; None when not one.

    Every folder on the way is opened with ``O_NOFOLLOW`` too, so a folder replaced by
    a symlink is not followed either.
    """
    parts = os.fsencode(os.fspath(path)).split(b"/")
    absolute = parts[0] == b""
    fd = os.open(b"/" if absolute else b".", _DIR_FLAGS)
    try:
        for part in [p for p in parts[:-1] if p]:
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError:
                return None
            os.close(fd)
            fd = nxt
        file_fd = open_file(parts[-1], dir_fd=fd)
    finally:
        os.close(fd)
    if file_fd is None:
        return None
    try:
        return read_fd(file_fd, cap)[0]
    finally:
        os.close(file_fd)


def read_text(path: Union[str, Path], cap: int = SMALL_CAP) -> Optional[str]:
    """:func:`read_capped` decoded as UTF-8 (undecodable bytes replaced)."""
    data = read_capped(path, cap)
    return None if data is None else data.decode("utf-8", errors="replace")


def sha256_fd(fd: int, cap: int) -> tuple[str, int]:
    """sha256 of at most ``cap`` bytes of an open file, and how many were read."""
    digest, got = hashlib.sha256(), 0
    while got < cap:
        try:
            block = os.read(fd, min(1 << 20, cap - got))
        except BlockingIOError:
            break
        if not block:
            break
        digest.update(block)
        got += len(block)
    return digest.hexdigest(), got
