"""attrs' generated methods compiled once and kept, as ``__pycache__`` keeps modules' (issue 16: start-up).

attrs writes each class's ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``... as
Python source and compiles it when the class is created.  A ``cab sweep`` creates about
eighty attrs classes: some 60-90 ms of ``compile()`` at every start, the largest single
part of start-up after the imports themselves.

:func:`install` puts a caching ``attr._make._compile_and_eval`` in place: the code object
compiled from a script is kept in a file inside the virtual environment (beside the
code it comes from: whoever can write the file can already write that code) and
reused while the script, its file name and the Python version are the same.  A
script's only part that changes from one process to the next, the class's hash seed
(``hash()`` of a string, randomised per process), is compiled as a fixed sentinel
(:data:`SENTINEL`, as wide as the widest seed) and replaced by this process's value in
the code object's constants; the columns its width moves in the code's location table
are moved back (:func:`_relocated`), so the code run is exactly what ``compile()`` of
this process's script gives (tested code object against code object, for seeds of every
width).  The kept code does not depend on the seed at all: once every class has been
made, a start compiles nothing and writes nothing (before, each width and sign of a
seed was a script of its own, and a start that met a new one rewrote the whole file).  An attrs that no longer has the function, a script this does not
recognise, a file that cannot be read or written: attrs compiles as it always did.

The same patch spares attrs one more start-up cost: for a converter, attrs reads the
first parameter's and the return annotation through ``inspect.signature``.  A built-in
(``converter=tuple``) has no annotations, but its signature is parsed from text with
:mod:`tokenize`, whose first use compiles its large regular expressions (5-13 ms, once
per process, paid by whichever class comes first).  :func:`_patch` gives attrs an
extractor that answers "no annotation" for built-ins at once, as attrs would after
parsing (tested for every built-in type and function a record uses).

``CAB_NO_CODE_CACHE=1`` turns both off.
"""

from __future__ import annotations

import __future__
import re
import sys
import types
from pathlib import Path
from typing import Any, Optional

from .codelocations import relocated as _relocated
from .keptfile import KeptFile

#: Stands for the class's hash seed in a kept script: a constant no generated script holds, as
#: wide as the widest seed (``-9223372036854775808``), so every column the seed moves lies after it.
SENTINEL = 66_615_599_990_000_000_017
_SENTINEL_TEXT = str(SENTINEL)
#: Code objects kept in the file at most (the oldest unused ones go first).
KEPT = 600
_FILENAME = re.compile(r"^<attrs generated [\w.]+ (?P<cls>.+?)(?:-\d+)?>$")
_STATE: dict[str, Any] = {"flags": 0}
#: The kept code objects (``cab attrs code 3`` adds the Python version and its cache tag).
_KEPT = KeptFile(".cab-attrs-code", f"cab attrs code 3 {sys.implementation.cache_tag}", KEPT, "CAB_NO_CODE_CACHE")


def cache_path() -> Optional[Path]:
    """The file, inside the running virtual environment (``None`` outside one, or turned off)."""
    return _KEPT.path()


def install() -> bool:
    """Put the caching compile in place as attrs is imported (now, if it is already); False if turned off.

    ``cab --version`` and ``--help`` import no attrs: nothing is read for them.
    """
    if cache_path() is None:
        return False
    make = sys.modules.get("attr._make")
    if make is not None:
        return _patch(make)
    if not any(isinstance(f, _OnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _OnImport())
    return True


class _OnImport:
    """A meta path finder that only wraps ``attr._make``'s execution, to patch it right after."""

    def find_spec(self, name, path=None, target=None):
        if name != "attr._make":
            return None
        sys.meta_path.remove(self)  # once; whatever happens next, never in the way again
        for finder in sys.meta_path:
            spec = getattr(finder, "find_spec", lambda *a: None)(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        run = getattr(loader, "exec_module", None)
        if run is None:
            return spec

        def exec_module(module):
            run(module)
            _patch(module)

        try:
            loader.exec_module = exec_module
        except AttributeError:  # a loader that takes no attribute: attrs compiles as it does
            pass
        return spec


def _patch(make) -> bool:
    real = getattr(make, "_compile_and_eval", None)
    if real is None or getattr(real, "_cab_cached", False):
        return getattr(real, "_cab_cached", False)
    # compile() in attrs inherits the __future__ statements of its module: the same flags here
    _STATE["flags"] = sum(feature.compiler_flag for name in __future__.all_feature_names
                          if getattr(make, name, None) is (feature := getattr(__future__, name)))

    def _compile_and_eval(script: str, globs: Optional[dict] = None, locs: Any = None, filename: str = "") -> None:
        eval(_code(script, filename), globs, locs)  # noqa: S307  (attrs' own generated methods)

    _compile_and_eval._cab_cached = True  # type: ignore[attr-defined]
    _compile_and_eval.__wrapped__ = real  # type: ignore[attr-defined]
    make._compile_and_eval = _compile_and_eval
    _patch_annotations(make)
    return True


def _patch_annotations(make) -> None:
    """attrs' ``_AnnotationExtractor`` without ``inspect.signature`` for built-ins (see the module's docstring)."""
    real = getattr(make, "_AnnotationExtractor", None)
    if real is None or getattr(real, "_cab_builtins", False) or "sig" not in getattr(real, "__slots__", ()):
        return

    class _AnnotationExtractor(real):
        __slots__ = ()
        _cab_builtins = True

        def __init__(self, callable):  # noqa: A002  (attrs' own parameter name)
            if _is_builtin(callable):
                self.sig = None  # a built-in's text signature carries no annotation
            else:
                super().__init__(callable)

    make._AnnotationExtractor = _AnnotationExtractor


def _is_builtin(value: object) -> bool:
    """A type or function implemented in C and named in ``builtins`` (``tuple``, ``dict``, ``len``...)."""
    if isinstance(value, type):
        return value.__module__ == "builtins" and not hasattr(value, "__signature__")
    return isinstance(value, types.BuiltinFunctionType) and getattr(value, "__module__", None) == "builtins"


def _code(script: str, filename: str) -> types.CodeType:
    """The code object ``compile(script, filename, "exec")`` gives, from the file when it holds it."""
    import hashlib

    seed = _seed(script, filename)
    kept = script if seed is None else script.replace(str(seed), _SENTINEL_TEXT)
    key = hashlib.sha1(f"{filename}\0{kept}".encode()).hexdigest()
    data = _KEPT.get(key)
    code = _unmarshal(data) if data is not None else None
    if code is None:
        code = compile(kept, filename, "exec", flags=_STATE["flags"], dont_inherit=True)
        _KEPT.put(key, _marshal(code))
    if seed is None:
        return code
    where = _position(script, str(seed))
    relocated = _relocated(_with_constant(code, SENTINEL, seed), *where, len(_SENTINEL_TEXT), len(str(seed)), seed)
    if relocated is None:  # a location table this cannot read: this process's script compiled as attrs does
        return compile(script, filename, "exec", flags=_STATE["flags"], dont_inherit=True)
    return relocated


def _position(script: str, text: str) -> tuple[int, int]:
    """The line (1-based) and column (UTF-8 bytes, as code locations count) where ``text`` starts in ``script``."""
    before = script[:script.index(text)]
    line_start = before.rfind("\n") + 1
    return before.count("\n") + 1, len(before[line_start:].encode())


def _seed(script: str, filename: str) -> Optional[int]:
    """The class's hash seed as the script holds it (once), else ``None`` (nothing to replace)."""
    match = _FILENAME.match(filename)
    if match is None:
        return None
    seed = hash(f"<attrs generated hash {match.group('cls')}>")
    if script.count(str(seed)) != 1 or _SENTINEL_TEXT in script:
        return None
    return seed


def _with_constant(code: types.CodeType, old: int, new: int) -> types.CodeType:
    """``code`` with the constant ``old`` replaced by ``new`` (in nested functions and constant tuples too)."""

    def swap(value):
        if type(value) is int and value == old:
            return new
        if isinstance(value, types.CodeType):
            return _with_constant(value, old, new)
        if type(value) is tuple:
            return tuple(swap(v) for v in value)
        return value

    return code.replace(co_consts=tuple(swap(c) for c in code.co_consts))


def _marshal(code: types.CodeType) -> bytes:
    import marshal

    return marshal.dumps(code)


def _unmarshal(data: bytes) -> Optional[types.CodeType]:
    import marshal

    try:
        code = marshal.loads(data)
    except (ValueError, EOFError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


__all__ = ["KEPT", "SENTINEL", "cache_path", "install"]
