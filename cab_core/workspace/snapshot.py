"""The harness's own picture of a work tree, and the diff between two pictures.

A :class:`Snapshot` is taken by walking the tree with :mod:`.safefs` (nothing
followed, nothing special opened, every read capped), optionally copying what it
reads into the verify folder in the same pass, so what is judged, what is diffed
and what is verified are the same bytes.  The snapshot is written into the
harness's own bare repository with ``git fast-import`` (one process, no work tree,
no attributes, filters, hooks or configuration of the agent's), and the patch is
``git diff`` between two such commits, with every attribute forced back to
"unspecified" by the repository's own ``info/attributes``.  So:

- a nested repository (``git init sub``), a ``.git`` file pointing anywhere, a name
  holding a newline, a backslash or bytes that are not UTF-8, a FIFO or a huge file
  can never make the diff fail; a nested repository's files are changes like any
  other (its ``.git`` folder is left out, as the verify copy leaves it out);
- ``.gitattributes`` (``-diff``, ``filter``, ``textconv``, ``eol``) changes nothing;
- paths are kept exactly as the file system has them.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path
from typing import Iterable, Optional

import attrs

from .safefs import KIND_DIR, KIND_FILE, KIND_LINK, KIND_SPECIAL, WalkReport, fs_name, open_file, walk

#: Build artefacts and caches that are never counted as changes and never verified.
IGNORED = ("target", "node_modules", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "*.pyc", ".DS_Store")
#: Bytes of one file kept in the recorded diff; a larger file is recorded as a one-line stub.
RECORD_CAP = 2 << 20
#: Bytes of all files kept in the recorded diff together.
RECORD_TOTAL_CAP = 64 << 20
#: Bytes of one file hashed to tell whether it changed (beyond: size and the hash of the first part).
HASH_CAP = 64 << 20
#: Bytes of one file, and of all files, copied into the verify folder.
COPY_CAP = 256 << 20
COPY_TOTAL_CAP = 1 << 30
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
#: Every attribute the agent's ``.gitattributes`` could set, forced back to unspecified.
NEUTRAL_ATTRIBUTES = "* !diff !text !eol !crlf !filter !ident !working-tree-encoding !binary !merge !export-subst !whitespace\n"

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "cab", "GIT_AUTHOR_EMAIL": "cab@localhost",
    "GIT_COMMITTER_NAME": "cab", "GIT_COMMITTER_EMAIL": "cab@localhost",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
}
GIT_SAFE = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "core.autocrlf=false",
            "-c", "core.protectNTFS=false", "-c", "core.protectHFS=false", "-c", "core.attributesFile=/dev/null",
            "-c", "diff.external=", "-c", "core.quotePath=true"]


def git(args, *, cwd: Path, git_dir: Optional[Path] = None, check: bool = True, input: Optional[bytes] = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    """Run git with the harness's own configuration only (no global, system or hook settings)."""
    prefix = ["git", *GIT_SAFE]
    if git_dir is not None:
        prefix.append(f"--git-dir={git_dir}")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, **GIT_ENV}
    proc = subprocess.run(prefix + list(args), cwd=cwd, env=env, capture_output=True, input=input, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    return proc


def ignored_name(name: bytes) -> bool:
    """Whether a file or folder name is a build artefact or cache (:data:`IGNORED`)."""
    text = fs_name(name)
    return text in IGNORED or text.endswith(".pyc") or text == ".DS_Store"


@attrs.frozen(kw_only=True)
class FileRecord:
    """One file of a snapshot: git mode, the bytes recorded in the diff, and what identifies its content."""

    rel: bytes
    mode: str               # 100644, 100755 or 120000
    data: bytes             # what the diff records (a stub line for a file over the cap)
    digest: str             # sha256 of the content (of a link: "symlink:" + sha256 of its target)
    size: int
    note: Optional[str] = None  # why the recorded data is not the whole content

    @property
    def path(self) -> str:
        return fs_name(self.rel)


@attrs.define
class Snapshot:
    """A work tree as the harness read it: files by path, and what it could not take."""

    files: dict = attrs.field(factory=dict)          # path -> FileRecord
    nested_git: list = attrs.field(factory=list)     # folders holding a .git of their own
    report: WalkReport = attrs.field(factory=WalkReport)
    notes: list = attrs.field(factory=list)          # files recorded or copied only in part
    _packages: Optional[tuple] = attrs.field(default=None, init=False, repr=False, eq=False)

    def packages(self) -> frozenset:
        """Folders holding an ``__init__.*``: built once (judging a tree stays linear in its files)."""
        if self._packages is None or self._packages[0] != len(self.files):
            found = frozenset(p.rpartition("/")[0] for p in self.files if p.rpartition("/")[2].startswith("__init__."))
            self._packages = (len(self.files), found)
        return self._packages[1]

    def skipped(self) -> list[str]:
        """One line per thing the harness left out (special files, too deep, too many, too big)."""
        out = [f"special file skipped: {p}" for p in self.report.special]
        out += [f"folder nested too deep, skipped: {p}" for p in self.report.too_deep]
        out += [f"unreadable, skipped: {p or '.'}" for p in self.report.unreadable]
        if self.report.stopped_at:
            out.append(f"more than {self.report.stopped_at} entries: the rest skipped")
        return out + list(self.notes)


def copy_of(snap: Snapshot) -> Snapshot:
    """A snapshot of its own with the same contents (records are frozen; the lists are copied)."""
    report = attrs.evolve(snap.report, special=list(snap.report.special), too_deep=list(snap.report.too_deep),
                          unreadable=list(snap.report.unreadable))
    return Snapshot(files=dict(snap.files), nested_git=list(snap.nested_git), report=report, notes=list(snap.notes))


def take(root: Path, *, copy_to: Optional[Path] = None) -> Snapshot:
    """Read ``root`` (``.git`` folders, :data:`IGNORED` and special files left out), copying it to ``copy_to``."""
    snap = Snapshot()
    budget = {"record": RECORD_TOTAL_CAP, "copy": COPY_TOTAL_CAP}
    if copy_to is not None:
        copy_to.mkdir(parents=True, exist_ok=True)

    def prune(rel: bytes, name: bytes, kind: str) -> bool:
        if name == b".git":
            if b"/" in rel:
                snap.nested_git.append(fs_name(rel.rsplit(b"/", 1)[0]))
            return True
        return ignored_name(name)

    for entry in walk(root, prune=prune, report=snap.report):
        dest = os.path.join(os.fsencode(copy_to), entry.rel) if copy_to is not None else None
        if entry.kind == KIND_DIR:
            if dest is not None:
                try:
                    os.makedirs(dest, exist_ok=True)
                except OSError as exc:  # a path longer than the system allows, ...
                    snap.notes.append(f"{entry.path}: not copied into the verify folder ({exc.strerror})")
        elif entry.kind == KIND_LINK:
            try:
                target = os.readlink(entry.name, dir_fd=entry.dir_fd)
            except OSError:
                continue
            target = os.fsencode(target)[:4096]
            snap.files[entry.path] = FileRecord(rel=entry.rel, mode="120000", data=target, size=len(target),
                                                digest="symlink:" + hashlib.sha256(target).hexdigest())
            if dest is not None:
                try:
                    os.symlink(target, dest)
                except OSError as exc:
                    snap.notes.append(f"{entry.path}: not copied into the verify folder ({exc.strerror})")
        elif entry.kind == KIND_FILE:
            record = _read_file(entry, dest, budget)
            if record is not None:
                snap.files[entry.path] = record
                if record.note:
                    snap.notes.append(f"{record.path}: {record.note}")
        # KIND_SPECIAL: reported by the walk, never opened, never copied
    return snap


def _read_file(entry, dest: Optional[bytes], budget: dict) -> Optional[FileRecord]:
    fd = open_file(entry.name, dir_fd=entry.dir_fd)
    if fd is None:
        return None
    executable = bool(entry.st.st_mode & 0o111)
    out = None
    size = entry.st.st_size
    copy = dest is not None and size <= COPY_CAP and size <= budget["copy"]
    copy_error = None
    if copy:
        try:
            out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                          0o755 if executable else 0o644)
        except OSError as exc:  # a path longer than the system allows, ...
            copy, copy_error = False, exc.strerror
    try:
        digest, kept, got = hashlib.sha256(), [], 0
        keep = min(RECORD_CAP, budget["record"])
        limit = HASH_CAP if not copy else max(HASH_CAP, COPY_CAP)
        while got < limit:
            try:
                block = os.read(fd, 1 << 20)
            except BlockingIOError:
                break
            if not block:
                break
            if got < HASH_CAP:
                digest.update(block[: HASH_CAP - got])
            if got < keep + 1:
                kept.append(block[: keep + 1 - got])
            if out is not None:
                try:
                    os.write(out, block)
                except OSError as exc:  # the disk is full: the file is verified in part, and said so
                    os.close(out)
                    out, copy_error = None, exc.strerror
            got += len(block)
    except OSError:
        return None
    finally:
        os.close(fd)
        if out is not None:
            os.close(out)
    if copy:
        budget["copy"] -= got
    data = b"".join(kept)
    note = None
    if got > HASH_CAP:
        note = f"{got} bytes or more: only the first {HASH_CAP} hashed"
    if dest is not None and not copy:
        note = f"{size} bytes: too large to copy into the verify folder"
    if copy_error:
        note = f"not copied into the verify folder ({copy_error})"
    if len(data) > keep:
        note = note or f"{got} bytes: too large to record in the diff"
        data = (f"cab: file not recorded ({got} bytes, sha256 {digest.hexdigest()})\n").encode()
    else:
        budget["record"] -= len(data)
    return FileRecord(rel=entry.rel, mode="100755" if executable else "100644", data=data,
                      digest=digest.hexdigest() + ("" if got <= HASH_CAP else f"+{got}"), size=got, note=note)


# --------------------------------------------------------------------------- git


def init_store(git_dir: Path) -> None:
    """A bare repository of the harness's own, whose ``info/attributes`` neutralises every attribute."""
    # What ``git init --bare`` writes, without starting a process for it.
    for sub in ("objects/info", "objects/pack", "refs/heads", "refs/tags", "info"):
        (git_dir / sub).mkdir(parents=True, exist_ok=True)
    (git_dir / "HEAD").write_text("ref: refs/heads/baseline\n")
    (git_dir / "config").write_text("[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n")
    (git_dir / "info" / "attributes").write_text(NEUTRAL_ATTRIBUTES)


def _quote(path: bytes) -> bytes:
    out = bytearray(b'"')
    for byte in path:
        if byte in (0x22, 0x5C):
            out += b"\\" + bytes([byte])
        elif byte == 0x0A:
            out += b"\\n"
        elif byte < 0x20 or byte >= 0x7F:
            out += b"\\%03o" % byte
        else:
            out.append(byte)
    return bytes(out + b'"')


def commit(git_dir: Path, snap: Snapshot, ref: str) -> str:
    """Write ``snap`` as a commit on ``refs/heads/<ref>`` of ``git_dir``; return its id."""
    parts = []
    records = sorted(snap.files.values(), key=lambda r: r.rel)
    for mark, record in enumerate(records, 1):
        parts.append(b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(record.data), record.data))
    parts.append(b"commit refs/heads/%s\nmark :%d\ncommitter cab <cab@localhost> 946684800 +0000\ndata 0\ndeleteall\n"
                 % (ref.encode(), len(records) + 1))
    for mark, record in enumerate(records, 1):
        parts.append(b"M %s :%d %s\n" % (record.mode.encode(), mark, _quote(record.rel)))
    parts.append(b"\ndone\n")
    marks = git_dir / f"marks-{ref}"
    # Kept as one pack even when small: no ``unpack-objects`` process, and a folder per object
    # is not written now nor removed with the cell (issue 16).
    git(["-c", "fastimport.unpackLimit=1", "fast-import", "--quiet", "--done", "--force", f"--export-marks={marks}"], cwd=git_dir, git_dir=git_dir,
        input=b"".join(parts))
    wanted = b":%d " % (len(records) + 1)
    line = next(line for line in marks.read_bytes().splitlines() if line.startswith(wanted))
    return line.split()[1].decode()


def patch(git_dir: Path, old: str, new: str) -> str:
    """The patch from commit ``old`` to ``new``: binary files as binary patches, no renames, no textconv."""
    out = git(["diff", "--binary", "--no-renames", "--no-textconv", "--no-ext-diff", "--no-color", "--full-index",
               old, new], cwd=git_dir, git_dir=git_dir).stdout
    return out.decode("utf-8", errors="replace")


def compare(before: Snapshot, after: Snapshot) -> tuple[list[str], list[str], list[str]]:
    """``(added, removed, modified)`` paths between two snapshots."""
    added = sorted(p for p in after.files if p not in before.files)
    removed = sorted(p for p in before.files if p not in after.files)
    modified = sorted(p for p, rec in after.files.items()
                      if p in before.files and (before.files[p].digest, before.files[p].mode) != (rec.digest, rec.mode))
    return added, removed, modified


def digests(snap: Snapshot, paths: Iterable[str]) -> dict[str, str]:
    """``path -> digest`` for the given paths present in ``snap``."""
    return {p: snap.files[p].digest for p in paths if p in snap.files}


def mode_of(snap: Snapshot, path: str) -> Optional[int]:
    record = snap.files.get(path)
    if record is None:
        return None
    return {"100644": stat.S_IFREG | 0o644, "100755": stat.S_IFREG | 0o755, "120000": stat.S_IFLNK}[record.mode]


__all__ = ["IGNORED", "Snapshot", "FileRecord", "take", "init_store", "commit", "patch", "compare", "digests",
           "git", "KIND_SPECIAL"]
