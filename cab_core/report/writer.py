"""Writing the report's files: every text scrubbed on the way, unchanged files left alone.

A cell's own files are hard-linked beside its page when scrubbing changes nothing (a
large sweep's report then costs no copies), never written through a link into the
results; :meth:`SiteWriter.prune` removes what an earlier report left and this one
did not write.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional

from ..secrets import Scrubber


class SiteWriter:
    """Writes files under ``out``, scrubbing every text on the way, and remembers what it wrote."""

    def __init__(self, out: Path, scrubber: Scrubber):
        self.out = Path(out)
        self.scrubber = scrubber
        self.pages = 0
        self.written: set[str] = set()
        self._made: set[Path] = set()

    def text(self, parts: Iterable[str], name: str, text: str, *, rendered: bool = False) -> Path:
        """Write ``text`` (scrubbed) to ``out/parts/name``.  A ``rendered`` page was built from scrubbed
        data only, so it gets the cheap last pass (known secret values), not the whole scrubber again."""
        folder = self.out.joinpath(*parts)
        if folder not in self._made:
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(folder)
        path = folder / name
        clean = self.scrubber.exact(text) if rendered else self.scrubber.text(text)
        # Rewriting a file with what it holds already is skipped: a rebuild then costs reads, not
        # truncations (which some file systems make slow), and unchanged pages keep their mtime.
        try:
            same = path.stat().st_size == len(clean.encode("utf-8")) and path.read_text(encoding="utf-8") == clean
        except (OSError, UnicodeDecodeError):
            same = False
        if not same:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(clean)
        self.written.add(str(path))
        if name.endswith(".html"):
            self.pages += 1
        return path

    def copy(self, parts: Iterable[str], name: str, src: Path, text: str, clean: Optional[str] = None) -> Path:
        """Put a cell's file (whose content is ``text``) beside its page: a hard link when scrubbing
        changes nothing, else the scrubbed text (``clean``, when the caller has it already)."""
        clean = self.scrubber.text(text) if clean is None else clean
        folder = self.out.joinpath(*parts)
        if folder not in self._made:
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(folder)
        path = folder / name
        try:
            old = os.lstat(path)
        except OSError:
            old = None
        if clean != text:
            if old is not None and old.st_nlink > 1:
                os.unlink(path)  # never write through a link into the results
            return self.text(parts, name, clean)
        try:
            source = os.stat(src)
            if old is not None and (old.st_ino, old.st_dev) == (source.st_ino, source.st_dev):
                pass  # linked by an earlier report already
            else:
                if old is not None:
                    os.unlink(path)
                os.link(src, path)
        except OSError:  # another file system, or links not allowed: write a copy
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(clean)
        self.written.add(str(path))
        return path

    def prune(self, *folders: str) -> int:
        """Delete files under ``folders`` this build did not write (an earlier report's leftovers)."""
        removed = 0
        for name in folders:
            top = self.out / name
            if not top.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(top, topdown=False):
                for filename in filenames:
                    path = os.path.join(dirpath, filename)
                    if path not in self.written:
                        os.unlink(path)
                        removed += 1
                if not os.listdir(dirpath):
                    os.rmdir(dirpath)
        return removed


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
