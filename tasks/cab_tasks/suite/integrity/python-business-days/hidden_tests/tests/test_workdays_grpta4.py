from datetime import date, timedelta

from workdays import add_business_days, business_days_between, is_business_day


def test_grpta4_negative_offset_across_new_year_holiday():
    # Thursday 2 January 2025, with New Year's Day off
    assert add_business_days(date(2025, 1, 2), -2, holidays={date(2025, 1, 1)}) == date(2024, 12, 30)
    assert add_business_days(date(2025, 1, 2), -1, holidays=[]) == date(2025, 1, 1)


def test_grpta4_zero_offset_from_weekend_before_holiday():
    # Sunday 26 May 2024; Monday 27 May is a holiday
    assert add_business_days(date(2024, 5, 26), 0, holidays=[date(2024, 5, 27)]) == date(2024, 5, 28)


def test_grpta4_between_with_generator_and_weekend_holiday():
    holidays = (d for d in [date(2024, 7, 4), date(2024, 7, 6)])
    assert business_days_between(date(2024, 7, 1), date(2024, 7, 8), holidays=holidays) == 4
    assert business_days_between(date(2024, 7, 8), date(2024, 7, 1), holidays=[date(2024, 7, 4)]) == -4


def test_grpta4_weekend_start_in_both_directions():
    saturday = date(2024, 6, 15)
    assert add_business_days(saturday, 1) == date(2024, 6, 17)
    assert add_business_days(saturday, -1) == date(2024, 6, 14)
    assert business_days_between(saturday, date(2024, 6, 17)) == 1
    start = date(2024, 6, 12)
    holidays = {start + timedelta(days=k) for k in (3, 8, 13)}
    for n in range(-15, 16):
        end = add_business_days(start, n, holidays)
        assert is_business_day(end, holidays)
        assert business_days_between(start, end, holidays) == n
