"""The results layout and atomic writes.

``<results>/<sweep>/<adapter>/<model...>/<task...>/trial-<n>/`` holds one cell:

- ``cell.json``: the :class:`~cab_core.models.CellResult` (written last: a folder
  without it is not a cell);
- ``spans.jsonl``, ``model_calls.jsonl``: the trace and the model calls, a record a line;
- ``diff.patch``, ``test_output.txt``, ``agent_output.txt``, ``terminal.cast``.

A cell folder is assembled beside its final place and renamed into it, so a reader
(or a resumed sweep) sees the old cell or the new one, never half of either.  Where
the kernel can (``renameat2(RENAME_EXCHANGE)``), a cell that already exists is
swapped with the new one in one step; elsewhere the old folder is first renamed to
``.trial-N.old-PID`` and :func:`recover` (called by every new writer) puts it back
if the process died between the two renames.  A write that fails (a full disk)
discards the staging folder and raises :class:`ResultsWriteError`: the previous
record is untouched.  Every text goes through the run's
:class:`~cab_core.secrets.Redactor` first.

Every artefact has a size cap (:data:`TEXT_CAP`, :data:`JSONL_CAP`, :data:`CAST_CAP`):
what is over it is left out in the middle (text) or at the end (records, terminal
events), and a visible ``[cab: truncated ...]`` marker says how much.  A text is
masked before it is cut, with a margin on each side of the cut, so a secret lying
across the cut is masked whole and masking never reads more than the cap allows.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Optional

from . import serialization
from .errors import CabError
from .models import CellResult

CELL_FILE = "cell.json"
DEFAULT_RESULTS = Path("results")
#: Characters of one text artefact (diff.patch, test_output.txt, agent_output.txt, ...).
TEXT_CAP = 8 << 20
#: Characters of one records file (spans.jsonl, model_calls.jsonl).
JSONL_CAP = 16 << 20
#: Bytes of the terminal recording.
CAST_CAP = 16 << 20
#: Characters masked beyond each cut, so a secret across a cut is still masked whole.
MARGIN = 16 << 10


def truncation_marker(left_out: int, total: int, unit: str = "characters") -> str:
    return f"[cab: truncated: {left_out:,} of {total:,} {unit} left out here]"


def cap_text(text: str, cap: int, redact=lambda t: t) -> str:
    """``redact(text)``, cut to about ``cap`` characters: the head and the tail kept, a marker between."""
    if len(text) <= cap:
        return redact(text)
    head_len, tail_len = cap * 3 // 4, cap // 4
    head = redact(text[: head_len + MARGIN])[:head_len]
    tail = redact(text[len(text) - tail_len - MARGIN:])[-tail_len:]
    marker = truncation_marker(len(text) - head_len - tail_len, len(text))
    return f"{head}\n{marker}\n{tail}"


def cap_lines(lines: list, cap: int) -> list:
    """As many whole lines as fit in ``cap`` characters, then a JSON line saying how many were left out."""
    out, used = [], 0
    for index, line in enumerate(lines):
        if used + len(line) + 1 > cap:
            left = len(lines) - index
            out.append(json.dumps({"truncated": True, "marker": truncation_marker(left, len(lines), "records")}))
            break
        out.append(line)
        used += len(line) + 1
    return out


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_many(items: list[tuple[Path, str]]) -> None:
    """:func:`atomic_write_text` for many files at once, with one flush to disk for all of them.

    Every file is written beside its target, then all are made durable together (one
    ``syncfs(2)`` where there is one, else an fsync each), then each is renamed into
    place: the same guarantee as one call per file (a target is either its old or its
    whole new text) at one journal commit instead of one per file (issue 16: the
    normalisation that rewrites every cell of a sweep).  File modes are kept.
    """
    staged: list[tuple[str, Path, int]] = []
    try:
        for path, text in items:
            path = Path(path)
            mode = path.stat().st_mode & 0o777 if path.exists() else None
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            staged.append((tmp, path, mode))
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        one_fs = len({os.stat(tmp).st_dev for tmp, _, _ in staged}) == 1
        if staged and not (one_fs and _syncfs(Path(staged[0][1]).parent)):
            for tmp, _, _ in staged:
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)  # a file that cannot be made durable is not put in place
                finally:
                    os.close(fd)
        for tmp, path, mode in staged:
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, path)
    except BaseException:
        for tmp, _, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise


class ResultsWriteError(CabError):
    """A cell could not be written (a full disk, a read-only results folder)."""


def check_names(*names: str) -> None:
    """Refuse names that would put a cell folder outside the results root or on top of another.

    Sweep ids, adapters, models and tasks become folders (split at ``/``): none of
    their parts may be empty, ``.`` or ``..`` (``-m ../../x``, ``-m a//b``).
    """
    for name in names:
        parts = str(name).split("/")
        if any(p in ("", ".", "..") or "\0" in p for p in parts):
            raise CabError(f"{str(name)!r} cannot name a cell folder: no part of it may be empty, '.' or '..'")


class CellWriter:
    """Assembles one cell folder in a staging folder, then publishes it atomically."""

    def __init__(self, results_root: Path, relpath: Path, redact):
        self.final = Path(results_root) / relpath
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            recover(self.final)
            self.staging = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.staging-{os.getpid()}-",
                                                 dir=self.final.parent))
        except OSError as exc:
            raise ResultsWriteError(f"cannot write results below {self.final.parent}: {exc}") from None
        self.redact = redact
        #: The redacted ``cell.json`` text :meth:`publish` wrote (the record as others will read it).
        self.published_text: Optional[str] = None

    def path(self, name: str) -> Path:
        return self.staging / name

    def _write(self, name: str, text: str, *, keep: bool = False) -> str:
        """Write ``name``; a failure discards the staging folder (``keep``: raises OSError and leaves
        it, for a write beside the run that the record does again)."""
        try:
            with open(self.staging / name, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            if keep:
                raise
            self.discard()
            raise ResultsWriteError(f"cannot write {name} of cell {self.final}: {exc}") from None
        return name

    def write_text(self, name: str, text: str, cap: int = TEXT_CAP) -> str:
        """Write ``text`` masked and capped (see the module doc)."""
        return self._write(name, cap_text(text, cap, self.redact))

    def write_jsonl(self, name: str, records, cap: int = JSONL_CAP, *, keep: bool = False) -> str:
        lines = [cap_text(serialization.dumps(r, indent=None), cap, self.redact) for r in records]
        return self._write(name, "".join(line + "\n" for line in cap_lines(lines, cap)), keep=keep)

    def masked(self, text: str, cap: int = TEXT_CAP) -> str:
        """``text`` as :meth:`write_text` writes it (masked and capped), not written."""
        return cap_text(text, cap, self.redact)

    def write_masked(self, name: str, masked: str, *, keep: bool = False) -> str:
        """Write text already masked (:meth:`masked`, :meth:`masked_file`)."""
        return self._write(name, masked, keep=keep)

    def redact_file(self, name: str, cap: int = CAST_CAP) -> None:
        """Mask secrets in a file something else wrote into the staging folder (a recording: cut at ``cap``)."""
        masked = self.masked_file(name, cap)
        if masked is not None:
            self._write(name, masked)

    def masked_file(self, name: str, cap: int = CAST_CAP) -> Optional[str]:
        """What :meth:`redact_file` would write in place of the file (``None``: it stays as it is), not written."""
        path = self.staging / name
        if not path.is_file():
            return None
        with open(path, "rb") as fh:
            data = fh.read(cap + 1)
            total = os.fstat(fh.fileno()).st_size
        text = data[:cap].decode("utf-8", errors="replace")
        if total > cap:
            text = text[: text.rfind("\n") + 1] if "\n" in text else ""
            marker = truncation_marker(total - len(text.encode()), total, "bytes")
            last = text.rstrip("\n").rsplit("\n", 1)[-1]
            try:
                at = float(json.loads(last)[0]) if last.startswith("[") else 0.0
            except (ValueError, TypeError, IndexError):
                at = 0.0
            text += json.dumps([at, "o", f"\r\n{marker}\r\n"]) + "\n"
        masked = self.redact(text)
        return masked if masked != text or total > cap else None

    def publish(self, result: CellResult, *, before_sync: Optional[Callable[[], None]] = None) -> Path:
        """Write cell.json last (synced) and move the folder into place in one step (``before_sync()``:
        called once everything is written, before the wait for the disk)."""
        text = self.published_text = self.redact(serialization.dumps(result))
        try:
            with open(self.staging / CELL_FILE, "w", encoding="utf-8") as fh:
                fh.write(text)
            if before_sync is not None:
                before_sync()
            # Everything on disk before the folder is moved into place: one syncfs(2) of the
            # results' file system (one journal commit) where there is one, else each file.
            if not _syncfs(self.staging):
                for name in os.listdir(self.staging):
                    _fsync_file(self.staging / name)
                _fsync_dir(self.staging)
        except OSError as exc:
            self.discard()
            raise ResultsWriteError(f"cannot write cell {self.final}: {exc}") from None
        if self.final.exists() and _exchange(self.staging, self.final):
            shutil.rmtree(self.staging, ignore_errors=True)  # now holds the previous cell
        else:
            old = None
            if self.final.exists():
                old = self.final.with_name(f".{self.final.name}.old-{os.getpid()}")
                os.replace(self.final, old)
            os.replace(self.staging, self.final)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        _fsync_dir(self.final.parent)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def recover(final: Path) -> bool:
    """Put back the previous cell if a publish died between its two renames; drop stale leftovers.

    Returns whether a cell was restored.  Staging folders of dead processes and
    ``.old-*`` folders that are no longer needed are removed.
    """
    final = Path(final)
    restored = False
    try:
        siblings = sorted(final.parent.iterdir())
    except OSError:
        return False
    # A live owner may be between its two renames right now: only a dead one's leftovers are touched.
    olds = [p for p in siblings if p.name.startswith(f".{final.name}.old-") and not _owner_alive(p.name.rsplit("-", 1)[-1])]
    if olds and not final.exists():
        newest = olds[-1]
        if (newest / CELL_FILE).is_file():
            try:
                os.replace(newest, final)
                olds.remove(newest)
                restored = True
            except OSError:
                pass
    for path in olds:
        shutil.rmtree(path, ignore_errors=True)
    for path in siblings:
        if path.name.startswith(f".{final.name}.staging-"):
            pid = path.name[len(f".{final.name}.staging-"):].split("-", 1)[0]
            if pid.isdigit() and not _owner_alive(pid):
                shutil.rmtree(path, ignore_errors=True)
    return restored


def _owner_alive(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return int(pid) != 0


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2 = None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with ``renameat2(RENAME_EXCHANGE)``; False where unsupported."""
    global _renameat2
    if _renameat2 is None:
        try:
            import ctypes  # only where cells are published

            # The process's own symbols (libc's among them): find_library would run ldconfig.
            libc = ctypes.CDLL(None, use_errno=True)
            _renameat2 = libc.renameat2
            _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        except (OSError, AttributeError):
            _renameat2 = False
    if not _renameat2:
        return False
    return _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _fsync_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    _fsync_file(path)


_libc_syncfs = None


def _syncfs(path: Path) -> bool:
    """``syncfs(2)`` on the file system holding ``path``; False where it is not available or fails."""
    global _libc_syncfs
    if _libc_syncfs is None:
        try:
            import ctypes  # only where cells are published

            # The process's own symbols (libc's among them): find_library would run ldconfig.
            libc = ctypes.CDLL(None, use_errno=True)
            _libc_syncfs = libc.syncfs
            _libc_syncfs.argtypes = [ctypes.c_int]
        except (OSError, AttributeError):
            _libc_syncfs = False
    if not _libc_syncfs:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return _libc_syncfs(fd) == 0
    finally:
        os.close(fd)


def read_cell(folder: Path) -> CellResult:
    """Load the cell record in ``folder``; one written by a newer cab (a higher ``schema_version``) is a ``CabError``.

    Reading a newer record as far as it goes would show numbers whose meaning may have
    changed, so every reader (summary, report, index, compare) skips it with this line.
    """
    from .errors import CabError
    from .models import SCHEMA_VERSION

    path = Path(folder) / CELL_FILE
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)  # parsed once: the version is checked on it, then it is structured
    except ValueError:
        return serialization.loads(text, CellResult)  # the same error as ever
    version = data.get("schema_version") if isinstance(data, dict) else None
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise CabError(f"{path}: written by a newer cab (schema_version {version}; this cab reads up to "
                       f"{SCHEMA_VERSION}): upgrade cab to read it")
    return serialization.structure(data, CellResult)


def iter_cell_dirs(root: Path) -> Iterator[Path]:
    """Every published cell folder below ``root`` (staging folders skipped)."""
    for path in sorted(Path(root).rglob(CELL_FILE)):
        if not any(part.startswith(".") for part in path.relative_to(root).parts[:-1]):
            yield path.parent


def find_cell(root: Path, cell_id: str) -> Optional[Path]:
    """The folder of the cell whose ``cell_id`` is given, searching below ``root``."""
    for folder in iter_cell_dirs(root):
        try:
            data = json.loads((folder / CELL_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("cell_id") == cell_id:
            return folder
    return None
