"""A file of compiled things kept inside the virtual environment between starts (issue 16: start-up).

:mod:`cab_core.codecache` (attrs' generated methods) and :mod:`cab_core.recache` (regular
expressions) each keep what a start compiled, keyed by what it was compiled from, so the
next start reads it instead of compiling it again.  A :class:`KeptFile` is that file: read
whole on first use (each value stays marshalled bytes until asked for), rewritten at exit
(atomically) only when this process added something, the entries this process did not
use dropped first past ``limit``.  The file lives beside the code it serves (whoever can
write it can already write that code); a file that cannot be read is empty, one that
cannot be written is left as it was.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from pathlib import Path
from typing import Hashable, Optional


class KeptFile:
    """``{key: bytes}`` kept in ``<venv>/<name>`` under ``header`` (a different header: an empty file)."""

    def __init__(self, name: str, header: str, limit: int, switch: str):
        self.name, self.header, self.limit, self.switch = name, f"{header} {sys.version}\n".encode(), limit, switch
        self.codes: Optional[dict] = None
        self.used: set = set()
        self.new = 0
        self.lock = threading.Lock()
        self._at_exit = False

    def path(self) -> Optional[Path]:
        """The file, inside the running virtual environment (``None`` outside one, or turned off by ``switch``);
        in ``$CAB_KEPT_DIR`` when that is set (tests: a file of their own)."""
        if os.environ.get(self.switch) == "1":
            return None
        if os.environ.get("CAB_KEPT_DIR"):
            return Path(os.environ["CAB_KEPT_DIR"]) / self.name
        if sys.prefix == getattr(sys, "base_prefix", sys.prefix):
            return None
        return Path(sys.prefix) / self.name

    def get(self, key: Hashable) -> Optional[bytes]:
        with self.lock:
            if self.codes is None:  # read on first use, not when installed
                self.codes = self._load()
            self.used.add(key)
            return self.codes.get(key)

    def put(self, key: Hashable, data: bytes) -> None:
        with self.lock:
            if self.codes is None:
                self.codes = self._load()
            self.codes[key] = data
            self.used.add(key)
            self.new += 1
            if not self._at_exit:
                self._at_exit = True
                atexit.register(self.save)

    def _load(self) -> dict:
        import marshal

        path = self.path()
        try:
            data = path.read_bytes() if path is not None else b""
            if not data.startswith(self.header):
                return {}
            codes = marshal.loads(data[len(self.header):])
        except (OSError, ValueError, EOFError, TypeError):
            return {}
        return {k: v for k, v in codes.items() if isinstance(v, bytes)} if isinstance(codes, dict) else {}

    def save(self) -> None:
        """When this process added an entry: the file rewritten (atomically), the most recently used kept."""
        path = self.path()
        with self.lock:
            if path is None or not self.new or self.codes is None:
                return
            codes, used = dict(self.codes), set(self.used)
            self.new = 0
        import marshal
        import tempfile

        ordered = [k for k in codes if k not in used] + [k for k in codes if k in used]
        keep = {k: codes[k] for k in ordered[-self.limit:]}
        try:
            fd, tmp = tempfile.mkstemp(prefix=f"{self.name}-", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(self.header + marshal.dumps(keep))
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except (OSError, ValueError):  # a read-only install: compiled every time, as before
            pass


__all__ = ["KeptFile"]
