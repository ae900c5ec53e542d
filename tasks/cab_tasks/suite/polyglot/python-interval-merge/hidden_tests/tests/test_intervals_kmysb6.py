import pytest

from intervals import merge_intervals


def test_kmysb6_negative_and_chained_unsorted():
    data = [(5, 7), (-3, -1), (-1, 2), (10, 12), (6, 10)]
    assert merge_intervals(data) == [(-3, 2), (5, 12)]


def test_kmysb6_long_interval_swallows_later_ones():
    assert merge_intervals([(1, 20), (3, 4), (5, 25), (30, 31)]) == [(1, 25), (30, 31)]
    assert merge_intervals([(2, 2), (1, 3)]) == [(1, 3)]


def test_kmysb6_caller_list_untouched_and_new_list_returned():
    data = [(3, 4), (1, 2), (2, 2)]
    before = list(data)
    result = merge_intervals(data)
    assert result == [(1, 2), (3, 4)]
    assert data == before
    assert result is not data


def test_kmysb6_reversed_interval_anywhere_raises():
    with pytest.raises(ValueError):
        merge_intervals([(4, 1)])
    with pytest.raises(ValueError):
        merge_intervals([(0, 5), (1, 2), (9, 8)])
