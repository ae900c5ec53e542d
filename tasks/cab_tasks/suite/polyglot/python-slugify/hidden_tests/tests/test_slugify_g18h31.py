from slugify import slugify


def test_g18h31_accents_with_digits_and_punctuation():
    assert slugify("Ça va? Économie 2024!") == "ca-va-economie-2024"
    assert slugify("--Olá, Mundo--") == "ola-mundo"


def test_g18h31_multi_character_separator():
    assert slugify("Déjà vu, encore!", separator="__") == "deja__vu__encore"
    assert slugify("  x  ", separator="+") == "x"


def test_g18h31_truncation_never_leaves_a_separator():
    result = slugify("Hello, wonderful world", max_length=16)
    assert result == "hello-wonderful"
    for limit in range(1, 25):
        cut = slugify("Hello, wonderful world", max_length=limit)
        assert len(cut) <= limit
        assert not cut.endswith("-") and not cut.startswith("-")


def test_g18h31_truncation_counts_the_separator_length():
    assert slugify("aa bb cc", separator="--", max_length=7) == "aa--bb"
    assert slugify("aa bb cc", separator="--", max_length=10) == "aa--bb--cc"
