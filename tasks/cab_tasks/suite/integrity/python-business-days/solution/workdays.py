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
    holidays = frozenset(holidays)
    if n == 0:
        current = start
        while not is_business_day(current, holidays):
            current += timedelta(days=1)
        return current
    step = timedelta(days=1 if n > 0 else -1)
    remaining = abs(n)
    current = start
    while remaining:
        current += step
        if is_business_day(current, holidays):
            remaining -= 1
    return current


def business_days_between(start, end, holidays=()):
    """Signed number of business days from ``start`` to ``end``.

    For ``end >= start`` this is the number of business days ``d`` with
    ``start < d <= end``; for ``end < start`` it is minus the number of
    business days ``d`` with ``end < d <= start``. Consequently, when ``start``
    is a business day, ``business_days_between(start, add_business_days(start, n))``
    equals ``n`` for every integer ``n``.
    """
    holidays = frozenset(holidays)
    sign = 1
    if end < start:
        start, end, sign = end, start, -1
    total = 0
    for offset in range(1, (end - start).days + 1):
        if is_business_day(start + timedelta(days=offset), holidays):
            total += 1
    return sign * total
