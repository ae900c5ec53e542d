import pytest

from intervals import merge_intervals


def test_empty_and_single():
    assert merge_intervals([]) == []
    assert merge_intervals([(2, 4)]) == [(2, 4)]


def test_sorted_disjoint_and_overlapping():
    assert merge_intervals([(1, 2), (5, 6)]) == [(1, 2), (5, 6)]
    assert merge_intervals([(1, 4), (2, 6), (8, 9)]) == [(1, 6), (8, 9)]


def test_unsorted_input():
    assert merge_intervals([(8, 10), (1, 3), (2, 6)]) == [(1, 6), (8, 10)]


def test_touching_intervals_merge():
    assert merge_intervals([(1, 3), (3, 5)]) == [(1, 5)]
    assert merge_intervals([(0, 0), (0, 0)]) == [(0, 0)]


def test_nested_intervals():
    assert merge_intervals([(1, 10), (2, 3), (4, 5)]) == [(1, 10)]
    assert merge_intervals([(5, 6), (1, 10)]) == [(1, 10)]


def test_invalid_interval_raises():
    with pytest.raises(ValueError):
        merge_intervals([(1, 2), (5, 3)])


def test_input_not_modified_and_lists_accepted():
    data = [[4, 5], [1, 2], [2, 3]]
    snapshot = [list(pair) for pair in data]
    assert merge_intervals(data) == [(1, 3), (4, 5)]
    assert data == snapshot
