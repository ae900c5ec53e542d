import pytest

from csvline import parse_csv_line


def test_simple_fields():
    assert parse_csv_line("a,b,c") == ["a", "b", "c"]
    assert parse_csv_line("one") == ["one"]


def test_empty_fields_are_kept():
    assert parse_csv_line("a,,b,") == ["a", "", "b", ""]
    assert parse_csv_line("") == [""]


def test_custom_delimiter():
    assert parse_csv_line("x;y;z", delimiter=";") == ["x", "y", "z"]


def test_quoted_field_with_delimiter():
    assert parse_csv_line('1,"Smith, John",42') == ["1", "Smith, John", "42"]


def test_escaped_quotes():
    assert parse_csv_line('"She said ""hi""",ok') == ['She said "hi"', "ok"]


def test_unterminated_quote_raises():
    with pytest.raises(ValueError):
        parse_csv_line('a,"never closed')
