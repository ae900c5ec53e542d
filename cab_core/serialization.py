"""The one cattrs converter cab uses to turn records into JSON and back.

Built from cattrs' JSON preconf converter (datetimes become ISO strings) with hooks
for ``Path`` and open mappings.  Errors structuring user input are shown through
:func:`describe_structure_error`, which names the field that is wrong.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any, Callable, Mapping, Type, TypeVar

import attrs
import cattrs
import cattrs.v
from cattrs.preconf.json import make_converter

from .errors import one_line

T = TypeVar("T")

converter = make_converter(omit_if_default=False)
converter.register_unstructure_hook(Path, str)
converter.register_structure_hook(Path, lambda v, _: Path(v))
converter.register_unstructure_hook(_dt.datetime, lambda d: d.isoformat().replace("+00:00", "Z"))
converter.register_structure_hook(
    _dt.datetime, lambda v, _: v if isinstance(v, _dt.datetime) else _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
)
# Open mappings (breakdowns, span attributes, env) pass through as plain JSON.
# (predicate hooks: singledispatch cannot key on typing aliases, and copies must work)
converter.register_unstructure_hook_func(lambda t: t == Mapping[str, Any], lambda m: {k: _plain(v) for k, v in m.items()})
converter.register_structure_hook_func(lambda t: t == Mapping[str, Any], lambda v, _: dict(v))
converter.register_structure_hook_func(lambda t: t == Mapping[str, str], lambda v, _: {str(k): str(x) for k, x in v.items()})


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return converter.unstructure(value)


def unstructure(obj: Any) -> Any:
    """Turn a record (or anything holding records) into plain JSON-able data."""
    return _plain(obj) if isinstance(obj, Mapping) else converter.unstructure(obj)


def structure(data: Any, cls: Type[T]) -> T:
    """Build a record of type ``cls`` from plain data (raises cattrs errors)."""
    return converter.structure(data, cls)


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """Serialise a record to JSON text."""
    return json.dumps(unstructure(obj), indent=indent, ensure_ascii=False, sort_keys=False)


def loads(text: str, cls: Type[T]) -> T:
    """Parse JSON text into a record of type ``cls``."""
    return structure(json.loads(text), cls)


def describe_structure_error(exc: BaseException, path: str = "$") -> str:
    """One line saying which field(s) of the input were wrong and why."""
    if isinstance(exc, (cattrs.ClassValidationError, cattrs.IterableValidationError, cattrs.BaseValidationError)):
        messages = cattrs.transform_error(exc, path=path, format_exception=_format_field_error)
        return "; ".join(_field_first(m.replace("\n", " "), path) for m in messages)
    return one_line(exc, bare=True)


def _type_name(tp: Any) -> str:
    """``str`` for ``Optional[str]``, ``list`` for ``list[str]``: the type a user's file should have given."""
    import typing

    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) is typing.Union and len(args) == 1:
        tp = args[0]
    origin = typing.get_origin(tp) or tp
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
             tuple: "a list", dict: "a table"}
    return names.get(origin, getattr(origin, "__name__", repr(origin)))


def _format_field_error(exc: BaseException, tp: Any) -> str:
    """cattrs' per-field message, in the words of a user's file: unknown fields named, the expected type plain."""
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        extra = sorted(exc.extra_fields)
        known = sorted(f.name for f in attrs.fields(exc.cl)) if attrs.has(exc.cl) else []
        from .errors import close_matches

        hints = [m for name in extra for m in close_matches(name, known, n=1)]
        return (f"unknown field{'s' if len(extra) > 1 else ''} {', '.join(repr(e) for e in extra)}"
                + (f", did you mean {' or '.join(repr(h) for h in hints)}?" if hints else "")
                + (f" (known: {', '.join(known)})" if known else ""))
    if isinstance(exc, ValueError) and str(exc).startswith("expected "):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, (ValueError, TypeError)) and tp is not None:
        return f"expected {_type_name(tp)}"
    return cattrs.v.format_exception(exc, tp)


def _field_first(message: str, root: str) -> str:
    """``expected a string @ $.language`` -> ``field language: expected a string``; at the root, the message alone."""
    text, sep, where = message.rpartition(" @ ")
    if not sep:
        return message
    if where == root:
        return text
    return f"field {where[len(root):].lstrip('.')}: {text}"


def _expect(test, expected: str):
    def hook(value: Any, _type: Any) -> Any:
        if not test(value):
            raise ValueError(f"expected {expected}, got {value!r}")
        return float(value) if expected == "a number" else value

    return hook


def strict_converter() -> cattrs.Converter:
    """A copy of :data:`converter` for user files: unknown keys and wrong scalar types are errors.

    The one strict-converter factory (sweep files, native task manifests): a string
    must be a string, an integer an integer (not a bool), a number an int or float (not
    a bool), a bool a bool; ``Any`` passes through.  Errors read through
    :func:`describe_structure_error`.
    """
    strict = converter.copy(forbid_extra_keys=True)
    strict.register_structure_hook(str, _expect(lambda v: isinstance(v, str), "a string"))
    strict.register_structure_hook(bool, _expect(lambda v: isinstance(v, bool), "true or false"))
    strict.register_structure_hook(int, _expect(lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"))
    strict.register_structure_hook(
        float, _expect(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"))
    strict.register_structure_hook(Any, lambda v, _: v)
    return strict


def load_toml_record(path: Path, cls: Type[T], converter: cattrs.Converter, *, error: Callable[[str], Exception],
                     missing: str) -> T:
    """The TOML file at ``path`` as a ``cls`` record through ``converter`` (a :func:`strict_converter`).

    Every problem is ``error("<path>: <one line>")``: ``missing`` when there is no file, the
    TOML parser's message, or the first field that does not fit (:func:`describe_structure_error`).
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
    try:
        return converter.structure(raw, cls)
    except Exception as exc:
        raise error(f"{path}: {describe_structure_error(exc)}") from None
