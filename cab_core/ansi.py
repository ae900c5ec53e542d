"""The one ``strip_ansi``: terminal escape sequences out of text a person or a parser reads.

Agents and test runners colour their output and move the cursor; a report page, a test
summary parser or a final-answer extractor wants the words only.  One pattern covers
every family a terminal emits: OSC strings (titles, hyperlinks), CSI sequences (colours,
cursor moves, private modes), character-set designations and the single-character
escapes (``ESC 7``, ``ESC =``, ``ESC M`` ...).  Carriage returns are left to the caller.
"""

from __future__ import annotations

import re

ANSI = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"   # OSC ... BEL or ST
    r"|\x1b\[[0-?]*[ -/]*[@-~]"            # CSI parameters, intermediates, final byte
    r"|\x1b[()*+][0-9A-Za-z]"               # character-set designation
    r"|\x1b[@-Z\\-_=>78c]"                  # single-character escapes (Fe, Fp, Fs)
)


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences (``None`` or empty gives ``""``)."""
    return ANSI.sub("", text or "")


__all__ = ["ANSI", "strip_ansi"]
