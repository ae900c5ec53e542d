"""Reading added Python from its syntax tree: what no spelling of a line can hide.

:mod:`.forgery` reads changed code line by line; for Python this module reads the
parsed tree as well, so ``import re, gc``, ``x = 1; import pytest``, ``os.\\`` continued
on the next line, ``__import__('gc')`` or a call split over lines are found the same way
as their plain spelling.  It looks for the shapes of the forgery classes:

* imports of the test machinery and of the interpreter's internals (``gc``, ``ctypes``,
  ``atexit``, ``builtins``, ``importlib``), however spelled, and dynamic imports of them;
* reaching into other code's internals (``__closure__``, ``f_globals``, ``sys.modules``,
  ``gc.get_objects``), ending the process (``os._exit``), running code built at run
  time (``exec``, ``eval``, ``compile``);
* comparisons that lie to the tests' assertions: a subclass of a built-in type redefining
  its comparisons (by ``class`` or ``type()``), a comparison assigned onto a class, one
  returning a constant or never reading what it is compared with;
* a source encoding other than UTF-8 (``# coding: utf-7`` hides code in what reads as a comment).

Only findings on added lines count; a file that does not parse is left to the line reading.
"""

from __future__ import annotations

import ast
import re

#: Built-in types whose comparisons the tests rely on: a subclass redefining them lies to every ``==``.
_LIE = "comparisons that lie to the tests' assertions ({})"
_BUILTIN_TYPES = {"str", "int", "float", "complex", "bool", "bytes", "bytearray", "list", "tuple", "dict", "set",
                  "frozenset", "object"}
_COMPARISONS = {"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__len__", "__contains__",
                "__instancecheck__", "__subclasscheck__"}


def _always(node) -> bool:
    """A function (or lambda) whose every path returns one constant: ``return True``."""
    body = node.body if isinstance(node, ast.Lambda) else None
    if body is not None:
        return isinstance(body, ast.Constant)
    stmts = [n for n in node.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    return len(stmts) == 1 and isinstance(stmts[0], ast.Return) and isinstance(stmts[0].value, ast.Constant)


#: Modules solution code has no business importing (however the import is spelled: ``import re, gc``).
_PY_MODULES = {"pytest", "_pytest", "pluggy", "unittest", "nose", "nose2", "doctest", "builtins", "atexit", "gc",
               "ctypes", "importlib", "faulthandler", "_thread", "_testcapi", "_testinternalcapi"}


def _ignores_other(node) -> bool:
    """A two-argument comparison that never reads its second argument (``def __eq__(self, o): return True``)."""
    args = node.args.args
    if len(args) < 2:
        return False
    other = args[1].arg
    return not any(isinstance(n, ast.Name) and n.id == other for n in ast.walk(node))


def python_findings(after: str, added: dict) -> list[tuple[int, str]]:
    """``(line, what)`` for added lines of Python that import the test machinery or lie to its assertions.

    Read from the syntax tree, so no spelling hides them: ``import re, gc``, ``x = 1; import
    pytest``, an always-equal result (a subclass of a built-in type redefining its
    comparisons by ``class`` or ``type()``, a comparison assigned onto a class, or one that
    never looks at what it is compared with).  ``added`` maps each added line's number to its text.

    The tree is built only when the added lines hold a name it could find (names cannot be
    split in Python), and read until :data:`MOST` findings.
    """
    coding = _coding(after, added)
    if coding or len(after) > AST_CAP or not _TOKENS.search("\n".join(added.values())):
        return coding
    try:
        tree = ast.parse(after)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    found = []

    def base_names(bases):
        return {b.id for b in bases if isinstance(b, ast.Name)} | {b.attr for b in bases if isinstance(b, ast.Attribute)}

    try:
        for node in ast.walk(tree):
            if len(found) >= MOST and sum(1 for n, _ in found if n in added) >= MOST:
                break
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    names = [item.name] if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) else [
                        t.id for t in getattr(item, "targets", []) if isinstance(t, ast.Name)]
                    value = item if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) else getattr(item, "value", None)
                    for name in names:
                        if name in _COMPARISONS and (base_names(node.bases) & _BUILTIN_TYPES - {"object"}
                                                     or isinstance(value, (ast.FunctionDef, ast.Lambda))
                                                     and (_always(value) or _ignores_other(value))):
                            found.append((item.lineno, _LIE.format(f"{node.name}.{name}")))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                bad = sorted({n.split(".")[0] for n in names} & _PY_MODULES)
                if bad and getattr(node, "level", 0) == 0:
                    found.append((node.lineno, f"imports {', '.join(bad)}"))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type" \
                    and len(node.args) == 3 and isinstance(node.args[2], ast.Dict):
                keys = {k.value for k in node.args[2].keys if isinstance(k, ast.Constant)}
                if keys & _COMPARISONS:
                    found.append((node.lineno, _LIE.format("type() with " + ", ".join(sorted(keys & _COMPARISONS)))))
            elif isinstance(node, (ast.Attribute, ast.Name, ast.Call)):
                what = _reaches(node)
                if what:
                    found.append((node.lineno, what))
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                for target in getattr(node, "targets", [getattr(node, "target", None)]):
                    if isinstance(target, ast.Attribute) and target.attr in _COMPARISONS:
                        found.append((node.lineno, _LIE.format(f"assigns {target.attr}")))
    except RecursionError:
        return []
    return [(n, what) for n, what in found if n in added]




#: Attributes solution code has no business reaching (``sys.modules`` only on ``sys``).
_PY_ATTRS = {"_exit", "_getframe", "settrace", "setprofile", "get_objects", "get_referrers", "get_referents",
             "__closure__", "cell_contents", "__code__", "__globals__", "f_globals", "f_locals", "f_back", "tb_frame",
             "gi_frame", "cr_frame", "__subclasses__", "dup2", "addaudithook", "excepthook", "__builtins__", "abort"}
_PY_CALLS = {"exec", "eval", "compile", "breakpoint"}
_CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
_PLAIN_CODINGS = {"utf-8", "utf8", "utf_8", "ascii", "us-ascii", "latin-1", "latin1", "iso-8859-1", "iso8859-1"}


def _reaches(node) -> str:
    """What ``node`` (an attribute, name or call) reaches that solution code never needs, or ''."""
    if isinstance(node, ast.Attribute):
        if node.attr in _PY_ATTRS:
            return f"reaches {node.attr}"
        if node.attr == "modules" and isinstance(node.value, ast.Name) and node.value.id == "sys":
            return "reaches into sys.modules"
    elif isinstance(node, ast.Name) and node.id == "__builtins__":
        return "reaches into __builtins__"
    elif isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name in _PY_CALLS and isinstance(node.func, ast.Name):
            return f"runs code built at run time ({name})"
        if name in ("__import__", "import_module"):
            arg = node.args[0] if node.args else None
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                return "imports a module by a computed name"
            if arg.value.split(".")[0] in _PY_MODULES:
                return f"imports {arg.value} dynamically"
    return ""


def _coding(after: str, added: set) -> list[tuple[int, str]]:
    for number, line in enumerate(after.splitlines()[:2], 1):
        m = _CODING.match(line)
        if m and number in added and m.group(1).lower().replace("_", "-") not in _PLAIN_CODINGS | {"utf-8"}:
            return [(number, f"a source encoding the reader does not read ({m.group(1)})")]
    return []

#: The most source the tree is built for: parsing is linear, about 1 s per MB.
AST_CAP = 1 << 20  # the line reading's own cap per file (SCAN_FILE_CAP): no file escapes the tree
#: Findings enough to show; reading on would only cost time.
MOST = 20
_TOKENS = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, _PY_MODULES | _PY_ATTRS | _PY_CALLS | _COMPARISONS | {
    "__import__", "import_module", "type", "modules", "coding"}))) + r")\b")
