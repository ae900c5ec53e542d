"""The site's relative URLs, built from path components on disk (shared by every page writer)."""

from __future__ import annotations

from typing import Iterable
from urllib.parse import quote


def href(parts: Iterable[str], file: str = "index.html") -> str:
    """A relative URL from path components on disk (each percent-encoded)."""
    segs = [quote(p, safe="") for p in parts]
    return "/".join([*segs, file]) if file else "/".join(segs) + "/"
