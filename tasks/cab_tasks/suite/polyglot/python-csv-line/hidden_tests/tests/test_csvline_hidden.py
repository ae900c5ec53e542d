import pytest

from csvline import parse_csv_line


def test_quoted_empty_and_quote_only_fields():
    assert parse_csv_line('"",x') == ["", "x"]
    assert parse_csv_line('""""') == ['"']


def test_quoted_with_other_delimiter_and_spaces():
    assert parse_csv_line('" a; b ";c', delimiter=";") == [" a; b ", "c"]
    assert parse_csv_line(" padded , x") == [" padded ", " x"]


def test_garbage_after_closing_quote_raises():
    with pytest.raises(ValueError):
        parse_csv_line('"abc"def,x')
