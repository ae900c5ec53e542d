"""A code object's location table with the columns after one token moved, as a wider or narrower token gives.

:mod:`cab_core.codecache` keeps attrs' generated code compiled with a fixed stand-in for
each class's hash seed, whose width differs from the seed's.  Compiling the real script
gives the same code except in the location table (``co_linetable``): on the seed's line,
every column at or after the token's end is moved by the difference in width.  Rather
than keep one compiled copy per width (a new width meant a compile and a rewrite of the
whole kept file), :func:`relocated` moves those columns in the table itself.

The table's format (CPython 3.11 to 3.13, ``Objects/locations.md``) is a run of entries,
each for 1 to 8 code units; an entry changed here is written back with the form the
compiler chooses for that location (``write_location_info_entry`` in CPython's
assembler), so the table is byte for byte the compiler's.  The result is checked against
``co_positions()``; anything unexpected gives ``None`` (the caller compiles instead).
"""

from __future__ import annotations

import sys
import types
from typing import Optional

_NONE, _NO_COLUMN, _LONG = 15, 13, 14


def relocated(code: types.CodeType, line: int, column: int, old_width: int, new_width: int,
              value: object) -> Optional[types.CodeType]:
    """``code`` with the token ``value`` at ``line``:``column`` ``new_width`` wide, not ``old_width``.

    Only the code object holding ``value`` among its constants and those around it are
    looked at: the locations of any other (a sibling function) cannot be on that line.
    ``None`` when a table cannot be read or the result is not what the move gives.
    """
    shift = new_width - old_width
    if shift == 0 or not _holds(code, value):
        return code
    if not (3, 11) <= sys.version_info[:2] <= (3, 13):
        return None
    consts = []
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            const = relocated(const, line, column, old_width, new_width, value)
            if const is None:
                return None
        consts.append(const)
    positions = list(code.co_positions())
    on_line = [k for k, (first, last, _, _) in enumerate(positions) if first == line or last == line]
    if not on_line:
        return code.replace(co_consts=tuple(consts))
    end = column + old_width
    table = _moved_table(code, line, end, shift)
    if table is None:
        return None
    new = code.replace(co_consts=tuple(consts), co_linetable=table)
    for k in on_line:
        first, last, col, end_col = positions[k]
        col = col + shift if first == line and col is not None and col >= end else col
        end_col = end_col + shift if last == line and end_col is not None and end_col >= end else end_col
        positions[k] = (first, last, col, end_col)
    return new if list(new.co_positions()) == positions else None


def _holds(code: types.CodeType, value: object) -> bool:
    """Whether ``value`` is a constant of ``code`` (in a constant tuple too) or of a code object it holds."""
    def found(const) -> bool:
        if type(const) is type(value) and const == value:
            return True
        if type(const) is tuple:
            return any(found(c) for c in const)
        return isinstance(const, types.CodeType) and _holds(const, value)

    return any(found(c) for c in code.co_consts)


def _moved_table(code: types.CodeType, line: int, end: int, shift: int) -> Optional[bytes]:
    """``code``'s location table with columns at or after ``end`` on ``line`` moved by ``shift``."""
    data, out, i, current = code.co_linetable, bytearray(), 0, code.co_firstlineno
    try:
        while i < len(data):
            start, head = i, data[i]
            kind, size = (head >> 3) & 15, (head & 7) + 1
            i += 1
            if kind == _NONE:
                out += data[start:i]
                continue
            if kind == _NO_COLUMN:
                delta, i = _svarint(data, i)
                current += delta
                out += data[start:i]
                continue
            if kind == _LONG:
                delta, i = _svarint(data, i)
                span, i = _varint(data, i)
                col, i = _varint(data, i)
                end_col, i = _varint(data, i)
                first, last, col, end_col = current + delta, current + delta + span, col - 1, end_col - 1
            elif kind >= 10:  # one line: the line moves by 0-2, two one-byte columns
                delta, first, col, end_col = kind - 10, current + kind - 10, data[i], data[i + 1]
                last, i = first, i + 2
            else:  # short: the same line, a column below 80 and a width below 16
                delta, first, last = 0, current, current
                col = kind * 8 + ((data[i] >> 4) & 7)
                end_col, i = col + (data[i] & 15), i + 1
            current = first
            new_col = col + shift if first == line and col >= end else col
            new_end = end_col + shift if last == line and end_col >= end else end_col
            if (new_col, new_end) == (col, end_col) or col < 0 or end_col < 0:
                out += data[start:i]
            else:
                out += _entry(size, delta, last - first, new_col, new_end)
    except IndexError:
        return None
    return bytes(out)


def _entry(size: int, delta: int, span: int, col: int, end_col: int) -> bytes:
    """One entry for a location with columns, in the form the compiler picks for it."""
    if span == 0 and delta == 0 and col < 80 and 0 <= end_col - col < 16:
        return bytes([0x80 | (col // 8) << 3 | (size - 1), (col % 8) << 4 | (end_col - col)])
    if span == 0 and 0 <= delta < 3 and col < 128 and end_col < 128:
        return bytes([0x80 | (10 + delta) << 3 | (size - 1), col, end_col])
    return (bytes([0x80 | _LONG << 3 | (size - 1)]) + _write_svarint(delta) + _write_varint(span)
            + _write_varint(col + 1) + _write_varint(end_col + 1))


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 63) << shift
        shift += 6
        if not byte & 64:
            return value, i


def _svarint(data: bytes, i: int) -> tuple[int, int]:
    value, i = _varint(data, i)
    return (-(value >> 1) if value & 1 else value >> 1), i


def _write_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 64:
        out.append(64 | (value & 63))
        value >>= 6
    out.append(value)
    return bytes(out)


def _write_svarint(value: int) -> bytes:
    return _write_varint((-value << 1) | 1 if value < 0 else value << 1)


__all__ = ["relocated"]
