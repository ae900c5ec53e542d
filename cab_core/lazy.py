"""Module attributes imported on first use (PEP 562), for packages that re-export names.

``cab_core``, ``cab_core.sweep`` and ``cab_core.endpoint`` re-export what their
submodules define; importing all of them up front made every command pay for the
records, the runner and aiohttp before it knew whether it needed them (issue 16:
start-up).  :func:`lazy_exports` gives such a package the ``__getattr__`` and
``__dir__`` that import a name's submodule the first time the name is asked for
(``from cab_core.sweep import run_sweep`` works as before) and keep it.
"""

from __future__ import annotations

import importlib
from typing import Callable, Mapping, MutableMapping


def lazy_exports(package: str, sources: Mapping[str, str],
                 namespace: MutableMapping[str, object]) -> tuple[Callable[[str], object], Callable[[], list]]:
    """``(__getattr__, __dir__)`` for ``package``: each name of ``sources`` comes from its (relative) module."""

    def __getattr__(name: str) -> object:
        module = sources.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list:
        return sorted(set(namespace) | set(sources))

    return __getattr__, __dir__


class LazyModule:
    """Stands for the module ``name`` and imports it when one of its attributes is first read.

    For modules that name a costly dependency at module level (``web.Response`` in a
    handler, ``aiohttp.ClientError`` in an ``except``) but use it only on some paths:
    ``web = LazyModule("aiohttp.web")`` costs nothing until ``web.Response`` is read.
    Each attribute is kept once read (a module's attributes do not change).  The import
    itself is :func:`importlib.import_module`'s, so it is thread-safe and happens once.
    """

    def __init__(self, name: str):
        object.__setattr__(self, "_lazy_name", name)

    def __getattr__(self, attr: str) -> object:
        if attr.startswith("__"):  # copy, pickle and inspect probe dunders: never import for them
            raise AttributeError(attr)
        value = getattr(importlib.import_module(self._lazy_name), attr)
        object.__setattr__(self, attr, value)
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self._lazy_name!r}>"


__all__ = ["LazyModule", "lazy_exports"]
