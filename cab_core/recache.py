"""Regular expressions compiled once and kept, as ``__pycache__`` keeps modules (issue 16: start-up).

A ``cab sweep`` compiles about a hundred regular expressions as its modules are imported
(the refusal scorer's phrases, the secrets' key shapes, tomllib's grammar, click's and
logging's own...): some 20 ms of every start spent in :mod:`re`'s pure-Python parser and
compiler, and more in the first cell for those compiled on first use.

:func:`install` wraps ``re._compiler.compile``, the function :func:`re.compile` calls on
a miss of its own in-process cache.  It does what that function does (parse, then
compile to the engine's code) and keeps the result, the five values handed to
``_sre.compile``, in a :class:`~cab_core.keptfile.KeptFile` inside the virtual
environment, keyed by the pattern, its type and its flags.  A later start hands the kept
values to ``_sre.compile`` directly: the pattern object is the one ``re`` would build
(patterns compare equal only when their flags and engine code are equal: tested for
every pattern a sweep compiles).  Patterns compiled with ``re.DEBUG`` are not kept; a
kept pattern's parser warnings (rare ``FutureWarning`` s) are not shown again.  Only the
Python versions whose ``re`` internals this knows (3.11 to 3.13) are wrapped.
``CAB_NO_RE_CACHE=1`` turns it off.
"""

from __future__ import annotations

import marshal
import sys
from typing import Optional

from .keptfile import KeptFile

#: Patterns kept in the file at most, the oldest unused ones going first (a sweep compiles ~180; the
#: file is read whole at a start's first pattern: ~3 us a pattern).
KEPT = 600
_KEPT = KeptFile(".cab-re-code", "cab re code 1", KEPT, "CAB_NO_RE_CACHE")


def install() -> bool:
    """Wrap ``re``'s compile (once); False where this Python's ``re`` is not one this knows, or turned off."""
    if _KEPT.path() is None or not (3, 11) <= sys.version_info[:2] <= (3, 13):
        return False
    import re

    compiler = getattr(re, "_compiler", None)
    real = getattr(compiler, "compile", None)
    if real is None or not all(hasattr(compiler, n) for n in ("_code", "_parser", "_sre", "isstring")):
        return False
    if getattr(real, "_cab_kept", False):
        return True

    def compile(p, flags=0):  # noqa: A001  (the name re calls)
        if not compiler.isstring(p) or flags & compiler.SRE_FLAG_DEBUG:
            return real(p, flags)
        try:
            return _compiled(compiler, p, flags)
        except Exception:  # noqa: BLE001  (a bad pattern, an unexpected value: re's own compile, and its error)
            return real(p, flags)

    compile._cab_kept = True  # type: ignore[attr-defined]
    compile.__wrapped__ = real  # type: ignore[attr-defined]
    compiler.compile = compile
    return True


def _compiled(compiler, pattern, flags: int):
    """The pattern object ``re._compiler.compile(pattern, flags)`` gives, its engine code from the file when kept."""
    key = (type(pattern) is bytes, pattern, int(flags))
    args = _unmarshal(_KEPT.get(key))
    if args is None:
        args = _arguments(compiler, pattern, flags)
        _KEPT.put(key, marshal.dumps(args))
    return compiler._sre.compile(pattern, *args)


def _arguments(compiler, pattern, flags: int) -> tuple:
    """What ``re._compiler.compile`` hands ``_sre.compile`` after the pattern itself (its own steps, 3.11-3.13)."""
    parsed = compiler._parser.parse(pattern, flags)
    code = compiler._code(parsed, flags)
    groupindex = dict(parsed.state.groupdict)
    indexgroup = [None] * parsed.state.groups
    for name, index in groupindex.items():
        indexgroup[index] = name
    # plain ints (the opcodes are an int subclass) and strings: what marshal keeps, what _sre takes
    return (int(flags | parsed.state.flags), [int(c) for c in code], int(parsed.state.groups - 1),
            {str(k): int(v) for k, v in groupindex.items()}, tuple(indexgroup))


def _unmarshal(data: Optional[bytes]) -> Optional[tuple]:
    if data is None:
        return None
    try:
        args = marshal.loads(data)
    except (ValueError, EOFError, TypeError):
        return None
    return args if isinstance(args, tuple) and len(args) == 5 else None


__all__ = ["KEPT", "install"]
