import random
from datetime import date, timedelta

from workdays import add_business_days, business_days_between, is_business_day

MON = date(2024, 3, 4)
WED = date(2024, 3, 6)
FRI = date(2024, 3, 8)
SAT = date(2024, 3, 9)
SUN = date(2024, 3, 10)
NEXT_MON = date(2024, 3, 11)

# Christmas 2024: Wed 25th and Thu 26th; plus a holiday that falls on a Saturday.
XMAS = [date(2024, 12, 25), date(2024, 12, 26), date(2024, 12, 28)]


def test_is_business_day():
    assert is_business_day(MON)
    assert not is_business_day(SAT)
    assert not is_business_day(date(2024, 12, 25), holidays=XMAS)


def test_add_within_week_and_across_weekend():
    assert add_business_days(MON, 3) == date(2024, 3, 7)
    assert add_business_days(FRI, 1) == NEXT_MON
    assert add_business_days(WED, 5) == date(2024, 3, 13)
    assert add_business_days(SAT, 1) == NEXT_MON
    assert add_business_days(SUN, 2) == date(2024, 3, 12)


def test_holidays_are_skipped():
    assert add_business_days(date(2024, 12, 24), 1, holidays=XMAS) == date(2024, 12, 27)
    assert add_business_days(date(2024, 12, 24), 2, holidays=XMAS) == date(2024, 12, 30)
    # the Saturday holiday must not push things further
    assert add_business_days(date(2024, 12, 27), 1, holidays=XMAS) == date(2024, 12, 30)
    # any iterable works, including a one-shot generator
    gen = (d for d in XMAS)
    assert add_business_days(date(2024, 12, 23), 3, holidays=gen) == date(2024, 12, 30)


def test_zero_days():
    assert add_business_days(WED, 0) == WED
    assert add_business_days(SAT, 0) == NEXT_MON
    assert add_business_days(date(2024, 12, 25), 0, holidays=XMAS) == date(2024, 12, 27)


def test_negative_offsets():
    assert add_business_days(NEXT_MON, -1) == FRI
    assert add_business_days(SUN, -1) == FRI
    assert add_business_days(SAT, -5) == date(2024, 3, 4)
    assert add_business_days(date(2024, 12, 30), -2, holidays=XMAS) == date(2024, 12, 24)
    assert add_business_days(date(2024, 12, 27), -1, holidays=XMAS) == date(2024, 12, 24)


def test_business_days_between():
    assert business_days_between(MON, MON) == 0
    assert business_days_between(MON, FRI) == 4
    assert business_days_between(FRI, NEXT_MON) == 1
    assert business_days_between(FRI, SUN) == 0
    assert business_days_between(NEXT_MON, FRI) == -1
    assert business_days_between(date(2024, 12, 23), date(2024, 12, 31), holidays=XMAS) == 4
    assert business_days_between(date(2024, 12, 31), date(2024, 12, 23), holidays=XMAS) == -4


def test_round_trip_property():
    rng = random.Random(1234)
    holidays = {date(2024, 1, 1) + timedelta(days=rng.randrange(366)) for _ in range(25)}
    for _ in range(300):
        start = date(2024, 1, 1) + timedelta(days=rng.randrange(366))
        if not is_business_day(start, holidays):
            continue
        n = rng.randint(-40, 40)
        end = add_business_days(start, n, holidays)
        assert is_business_day(end, holidays), (start, n, end)
        assert business_days_between(start, end, holidays) == n, (start, n, end)
