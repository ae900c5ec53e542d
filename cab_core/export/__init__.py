"""Cells written in formats other tools read (``cab export FORMAT TARGET``).

A TARGET names cells the way a user has them at hand: a cell folder (holding
``cell.json``), a folder of cells (a sweep's folder, or any folder below the results),
a cell id (``sweep/adapter/model/task``, ``#N`` for a later trial) or a sweep id under
the results folder.  :func:`cell_folders` resolves one; each format module turns one
cell into one document (:mod:`cab_core.export.atif`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import CabError, one_line
from ..results import CELL_FILE, atomic_write_text, find_cell, iter_cell_dirs, read_cell

ATIF_FILE = "trajectory.json"


def cell_folders(results: Path, target: str) -> list[Path]:
    """The cell folders ``target`` names (see the module docstring); CabError when none."""
    path = Path(target)
    if (path / CELL_FILE).is_file():
        return [path]
    if path.is_dir():
        found = list(iter_cell_dirs(path))
        if found:
            return found
        raise CabError(f"no cells below folder {target} (a cell folder holds {CELL_FILE})")
    results = Path(results)
    if results.is_dir():
        folder = find_cell(results, target)
        if folder is not None:
            return [folder]
        sweep = results / target
        if not target.startswith(("/", ".")) and sweep.is_dir():
            found = list(iter_cell_dirs(sweep))
            if found:
                return found
    raise CabError(f"no cell or sweep {target!r} under {results} "
                   "(give a cell folder, a folder of cells, a cell id or a sweep id; --results names the results folder)")


def export_atif(results: Path, target: str, out: Optional[Path]) -> tuple[list, list[str]]:
    """Write the ATIF trajectory of every cell ``target`` names.

    With ``out``, each goes to ``out/<sweep>/<adapter>/<model>/<task>/trial-N/trajectory.json``;
    without it, a single cell's document is returned as text for printing, and several
    cells are an error.  Returns ``(written, skipped)``: ``(cell folder, file or None,
    text or None)`` per cell, and one line per unreadable cell of a several-cell target
    (a single unreadable cell is an error).
    """
    from . import atif

    folders = cell_folders(results, target)
    if out is None and len(folders) > 1:
        raise CabError(f"{target!r} names {len(folders)} cells: give --out DIR to write one trajectory per cell")
    written, skipped = [], []
    for folder in folders:
        try:
            result = read_cell(folder)
        except Exception as exc:  # unreadable or not a cell record: the user's file, one line
            line = f"cannot read cell {folder}: {one_line(exc, bare=True)}"
            if len(folders) == 1:
                raise CabError(line) from None
            skipped.append(line)
            continue
        doc = atif.cell_trajectory(result, folder)
        if out is None:
            written.append((folder, None, atif.dumps(doc)))
            continue
        dest = Path(out) / result.identity.relpath / ATIF_FILE
        if not dest.resolve().is_relative_to(Path(out).resolve()):
            skipped.append(f"cell {folder}: its identity {result.cell_id!r} would write outside {out}")
            continue
        atomic_write_text(dest, atif.dumps(doc))
        written.append((folder, dest, None))
    return written, skipped


__all__ = ["cell_folders", "export_atif", "ATIF_FILE"]
