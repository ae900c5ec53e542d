"""Glob matching for task paths: ``*`` stays inside one folder, ``**`` crosses folders.

Paths are matched exactly as the file system has them: a name may hold a newline
or a backslash (``src\\merge.js`` is one file in the top folder, not ``src/merge.js``),
so ``**`` and ``*`` match every character but ``/``, newlines included.
"""

from __future__ import annotations

import functools
import re
from typing import Iterable, Optional


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 1)
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append(f"[{body}]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def glob_problem(pattern: str) -> Optional[str]:
    """Why ``pattern`` is not a usable task glob, or None when it is."""
    if not isinstance(pattern, str) or not pattern.strip():
        return "empty glob"
    if pattern.startswith("/"):
        return f"glob {pattern!r} must be relative to the workspace"
    if ".." in pattern.split("/"):
        return f"glob {pattern!r} must not climb out of the workspace with '..'"
    depth = 0
    for c in pattern:
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        if depth < 0 or depth > 1:
            return f"glob {pattern!r} has unbalanced brackets"
    if depth:
        return f"glob {pattern!r} has an unclosed '['"
    return None


def glob_match(path: str, pattern: str) -> bool:
    """Whether the workspace-relative ``path`` matches ``pattern``."""
    return bool(_compile(pattern.rstrip("/")).match(path)) or (
        pattern.endswith("/") and path.startswith(pattern)
    )


def match_any(path: str, patterns: Iterable[str]) -> bool:
    """Whether ``path`` matches at least one of ``patterns``."""
    return any(glob_match(path, p) for p in patterns)
