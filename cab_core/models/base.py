"""What every record module shares: the schema version, cell statuses, field converters, mounts."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any, Mapping, Optional

import attrs

SCHEMA_VERSION = 1

#: Status of a cell: the agent ran and was scored, or the harness/infrastructure failed.
STATUS_OK = "ok"
STATUS_INFRA_ERROR = "infra_error"


def _tuple(value: Any) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        return (value,)
    return tuple(value)


def _dict(value: Any) -> dict:
    return dict(value or {})


def _opt_path(value: Any) -> Optional[Path]:
    return None if value is None else Path(value)


def utcnow() -> _dt.datetime:
    """Timezone-aware now in UTC (every timestamp cab writes is UTC)."""
    return _dt.datetime.now(_dt.timezone.utc)


# --------------------------------------------------------------------------- sandbox mounts


@attrs.frozen(kw_only=True)
class Mount:
    """A host path a sandboxed command may see, at the same path inside (read-only unless ``writable``).

    Tasks (``task.toml``: ``mounts = ["/opt/models", {path = "~/data", why = "..."}]``) and
    adapters (:attr:`Adapter.mounts`) declare the ones they need beyond what the local
    sandbox derives itself; every mount of a cell is listed in its record with ``why``.
    """

    path: Path = attrs.field(converter=lambda p: Path(os.path.expanduser(str(p))))
    writable: bool = False
    why: str = ""

    @path.validator
    def _absolute(self, _attribute, value: Path) -> None:
        if not value.is_absolute():
            raise ValueError(f"mount {str(value)!r} must be an absolute path (or start with ~/)")


def to_mounts(value: Any, why: str = "") -> tuple[Mount, ...]:
    """``value`` (paths, ``{path, writable, why}`` tables or :class:`Mount` records) as mounts; ValueError names the bad entry."""
    out = []
    for number, entry in enumerate(_tuple(value), start=1):
        try:
            if isinstance(entry, Mount):
                out.append(entry)
            elif isinstance(entry, (str, os.PathLike)):
                out.append(Mount(path=entry, why=why))
            elif isinstance(entry, Mapping):
                unknown = set(entry) - {"path", "writable", "why"}
                if unknown or "path" not in entry:
                    raise ValueError(f"expected keys path, writable, why (got {sorted(entry)})")
                if not isinstance(entry["path"], str) or not isinstance(entry.get("writable", False), bool) \
                        or not isinstance(entry.get("why", ""), str):
                    raise ValueError("path and why must be strings, writable true or false")
                out.append(Mount(path=entry["path"], writable=entry.get("writable", False), why=entry.get("why") or why))
            else:
                raise ValueError(f"expected a path or a table {{path, writable, why}}, got {entry!r}")
        except ValueError as exc:
            raise ValueError(f"entry {number}: {exc}") from None
    return tuple(out)
