"""Merging of closed integer intervals."""


def merge_intervals(intervals):
    """Merge overlapping or touching closed intervals.

    ``intervals`` is a list of ``(start, end)`` pairs in any order. Returns a
    new list of non-overlapping ``(start, end)`` tuples sorted by start.
    ``[(1, 3), (3, 5)]`` touch and merge into ``[(1, 5)]``. Raises
    ``ValueError`` if some interval has ``start > end``.
    """
    pairs = []
    for start, end in intervals:
        if start > end:
            raise ValueError(f"invalid interval ({start}, {end}): start is after end")
        pairs.append((start, end))
    pairs.sort()
    merged = []
    for start, end in pairs:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
