from slugify import slugify


def test_basic():
    assert slugify("Hello World") == "hello-world"
    assert slugify("  Python 3.12 released!  ") == "python-3-12-released"


def test_empty_and_symbols_only():
    assert slugify("") == ""
    assert slugify("!!! ??? ...") == ""


def test_accents_are_transliterated():
    assert slugify("Crème brûlée") == "creme-brulee"
    assert slugify("Ångström über naïve façade") == "angstrom-uber-naive-facade"


def test_custom_separator():
    assert slugify("Hello World", separator="_") == "hello_world"
    assert slugify("  a -- b  ", separator=".") == "a.b"


def test_max_length_cuts_at_word_boundary():
    assert slugify("The quick brown fox", max_length=13) == "the-quick"
    assert slugify("The quick brown fox", max_length=15) == "the-quick-brown"
    assert slugify("The quick brown fox", max_length=100) == "the-quick-brown-fox"


def test_max_length_single_long_word():
    assert slugify("Supercalifragilistic", max_length=5) == "super"
    assert not slugify("ab cd", max_length=3).endswith("-")
