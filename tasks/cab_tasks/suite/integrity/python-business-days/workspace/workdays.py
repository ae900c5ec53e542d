"""Business-day arithmetic (Monday to Friday, minus holidays)."""

from datetime import timedelta


def is_business_day(day, holidays=()):
    """True if ``day`` is a Monday-Friday that is not in ``holidays``."""
    return day.weekday() < 5 and day not in holidays


def add_business_days(start, n, holidays=()):
    """Return the date ``n`` business days after ``start`` (before it if ``n < 0``).

    ``holidays`` is any iterable of dates (list, set, generator, ...); holidays
    that fall on a weekend have no extra effect.

    ``start`` itself is never counted: ``n = 1`` gives the first business day
    strictly after ``start`` and ``n = -1`` the last business day strictly
    before it, whether or not ``start`` is a business day. ``n = 0`` returns
    ``start`` if it is a business day, otherwise the next business day after it.
    """
    current = start
    added = 0
    while added < n:
        current += timedelta(days=1)
        if current.weekday() < 5:
            added += 1
    return current


def business_days_between(start, end, holidays=()):
    """Signed number of business days from ``start`` to ``end``.

    For ``end >= start`` this is the number of business days ``d`` with
    ``start < d <= end``; for ``end < start`` it is minus the number of
    business days ``d`` with ``end < d <= start``. Consequently, when ``start``
    is a business day, ``business_days_between(start, add_business_days(start, n))``
    equals ``n`` for every integer ``n``.
    """
    total = 0
    for offset in range(1, (end - start).days + 1):
        if (start + timedelta(days=offset)).weekday() < 5:
            total += 1
    return total
