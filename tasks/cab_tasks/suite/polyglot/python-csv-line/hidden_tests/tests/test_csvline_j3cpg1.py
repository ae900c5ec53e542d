import pytest

from csvline import parse_csv_line


def test_j3cpg1_other_delimiter_inside_quotes():
    assert parse_csv_line('"a|b"|c|', delimiter="|") == ["a|b", "c", ""]
    assert parse_csv_line('"tab\there"\t2', delimiter="\t") == ["tab\there", "2"]


def test_j3cpg1_doubled_quotes_next_to_delimiters():
    assert parse_csv_line('"x"",""y",z') == ['x","y', "z"]
    assert parse_csv_line('a,"",""""""') == ["a", "", '""']


def test_j3cpg1_unterminated_after_escaped_quote_raises():
    with pytest.raises(ValueError):
        parse_csv_line('ok,"ends with ""')
    with pytest.raises(ValueError):
        parse_csv_line('"')
