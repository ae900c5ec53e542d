"""The results layout and atomic writes.

``<results>/<sweep>/<adapter>/<model...>/<task...>/trial-<n>/`` holds one cell:

- ``cell.json``: the :class:`~cab_core.models.CellResult` (written last: a folder
  without it is not a cell);
- ``spans.jsonl``, ``model_calls.jsonl``: the trace and the model calls, a record a line;
- ``diff.patch``, ``test_output.txt``, ``agent_output.txt``, ``terminal.cast``.

A cell folder is assembled beside its final place and renamed into it, so a reader
(or a resumed sweep) sees the old cell or the new one, never half of either.
Every text goes through the run's :class:`~cab_core.secrets.Redactor` first.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Optional

from . import serialization
from .models import CellResult

CELL_FILE = "cell.json"
DEFAULT_RESULTS = Path("results")


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


class CellWriter:
    """Assembles one cell folder in a staging folder, then publishes it atomically."""

    def __init__(self, results_root: Path, relpath: Path, redact):
        self.final = Path(results_root) / relpath
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.staging-", dir=self.final.parent))
        self.redact = redact

    def path(self, name: str) -> Path:
        return self.staging / name

    def write_text(self, name: str, text: str) -> str:
        (self.staging / name).write_text(self.redact(text), encoding="utf-8")
        return name

    def write_jsonl(self, name: str, records) -> str:
        lines = [self.redact(serialization.dumps(r, indent=None)) for r in records]
        (self.staging / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return name

    def redact_file(self, name: str) -> None:
        """Mask secrets in a file something else wrote into the staging folder."""
        path = self.staging / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            masked = self.redact(text)
            if masked != text:
                path.write_text(masked, encoding="utf-8")

    def publish(self, result: CellResult) -> Path:
        """Write cell.json last and move the folder into place."""
        text = self.redact(serialization.dumps(result))
        with open(self.staging / CELL_FILE, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        old = None
        if self.final.exists():
            old = self.final.with_name(f".{self.final.name}.old-{os.getpid()}")
            os.replace(self.final, old)
        os.replace(self.staging, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def read_cell(folder: Path) -> CellResult:
    """Load the cell record in ``folder``."""
    return serialization.loads((Path(folder) / CELL_FILE).read_text(encoding="utf-8"), CellResult)


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
