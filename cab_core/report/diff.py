"""The cell page's diff: a unified patch as files, hunks and lines, with word-level changes.

Long patches are cut at :data:`MAX_DIFF_LINES` rendered lines (the whole patch is linked
beside), and only line pairs up to :data:`MAX_INTRALINE` characters get a word diff, so
one pathological cell cannot make a page nobody can open.
"""

from __future__ import annotations

import difflib
import re
from typing import Optional

MAX_DIFF_LINES = 6_000      # diff lines rendered (the whole patch is linked)
MAX_INTRALINE = 400         # longest line pair that gets a word-level diff


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")


def _intraline(old: str, new: str) -> tuple[list, list]:
    """Word-level segments ``[(text, changed)]`` of a removed/added line pair."""
    if len(old) > MAX_INTRALINE or len(new) > MAX_INTRALINE:
        return [(old, False)], [(new, False)]
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.ratio() < 0.35:
        return [(old, False)], [(new, False)]
    left, right = [], []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if i2 > i1:
            left.append(("".join(a[i1:i2]), op != "equal"))
        if j2 > j1:
            right.append(("".join(b[j1:j2]), op != "equal"))
    return left, right


def diff_view(patch: str) -> dict:
    """A unified diff split into files and hunks, with line numbers and word-level changes."""
    files: list[dict] = []
    current: Optional[dict] = None
    old_no = new_no = 0
    lines = patch.splitlines()
    truncated = len(lines) > MAX_DIFF_LINES
    pending_del: list[dict] = []
    pending_add: list[dict] = []

    def flush() -> None:
        if pending_del and pending_add and len(pending_del) == len(pending_add):
            for d, a in zip(pending_del, pending_add):
                d["segments"], a["segments"] = _intraline(d["text"], a["text"])
        pending_del.clear()
        pending_add.clear()

    for line in lines[:MAX_DIFF_LINES]:
        if line.startswith("diff --git ") or current is None and (line.startswith("--- ") or line.startswith("Index: ")):
            flush()
            m = re.match(r"diff --git a/(.*) b/(.*)$", line)
            current = {"name": m.group(2) if m else line[4:], "old_name": m.group(1) if m else "", "status": "modified",
                       "added": 0, "removed": 0, "rows": [], "binary": False, "meta": []}
            files.append(current)
            if not line.startswith("diff --git "):
                current["meta"].append(line)
            continue
        if current is None:
            continue
        hunk = _HUNK.match(line)
        if hunk:
            flush()
            old_no, new_no = int(hunk.group(1)), int(hunk.group(3))
            current["rows"].append({"kind": "hunk", "text": line, "old": "", "new": ""})
            continue
        if not current["rows"]:  # header lines before the first hunk
            if line.startswith("new file"):
                current["status"] = "added"
            elif line.startswith("deleted file"):
                current["status"] = "deleted"
            elif line.startswith("rename from"):
                current["status"] = "renamed"
            elif line.startswith("Binary files"):
                current["binary"] = True
            elif line.startswith("+++ ") and line[4:] != "/dev/null":
                current["name"] = line[6:] if line.startswith("+++ b/") else line[4:]
            current["meta"].append(line)
            continue
        if line.startswith("+"):
            row = {"kind": "add", "text": line[1:], "old": "", "new": new_no}
            new_no += 1
            current["added"] += 1
            pending_add.append(row)
        elif line.startswith("-"):
            if pending_add:
                flush()
            row = {"kind": "del", "text": line[1:], "old": old_no, "new": ""}
            old_no += 1
            current["removed"] += 1
            pending_del.append(row)
        elif line.startswith("\\"):
            row = {"kind": "note", "text": line, "old": "", "new": ""}
        else:
            flush()
            row = {"kind": "ctx", "text": line[1:] if line.startswith(" ") else line, "old": old_no, "new": new_no}
            old_no += 1
            new_no += 1
        current["rows"].append(row)
    flush()
    return {"files": files, "truncated": truncated, "added": sum(f["added"] for f in files),
            "removed": sum(f["removed"] for f in files), "line_count": len(lines)}
