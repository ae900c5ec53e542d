import io
import logging

from redact import RedactingFilter, mask_secrets


def test_i6pq96_more_key_value_forms():
    assert mask_secrets("refresh_token: 'abc def' ok") == "refresh_token: '***' ok"
    assert mask_secrets("APIKEY=zzz9 next") == "APIKEY=*** next"
    assert mask_secrets("passwd:xyz;user=root") == "passwd:***;user=root"
    assert mask_secrets("&Token=t0k3n&x=1") == "&Token=***&x=1"


def test_i6pq96_keys_must_be_whole_words():
    for line in ["my_token=abc", "secretary=bob", "tokenizer: bpe", "passwords=3"]:
        assert mask_secrets(line) == line


def test_i6pq96_known_key_shapes_anywhere():
    aws = "ASIA" + "ABCDEFGHIJ234567"
    openai = "sk-" + "abc_DEF-1234567890abcd"
    github = "ghs_" + "Z9y8X7w6" * 4 + "abcd"
    assert mask_secrets(f"creds[{aws}] key:{openai} gh={github}.") == "creds[***] key:*** gh=***."
    short = "sk-" + "a" * 19
    assert mask_secrets(f"id {short}") == f"id {short}"
    assert mask_secrets("ghx_" + "a" * 36) == "ghx_" + "a" * 36


def test_i6pq96_url_password_through_logging_arguments():
    assert mask_secrets("redis://default:s3cr3t@cache:6379/0") == "redis://default:***@cache:6379/0"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("i6pq96")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addFilter(RedactingFilter())
    try:
        logger.info("fetch %s with %s", "https://u:pw9@h.example/x", "Bearer abc.def")
        logger.info("%(who)s logged in, secret=%(s)s", {"who": "ann", "s": "q1w2"})
    finally:
        logger.filters.clear()
    assert stream.getvalue().splitlines() == [
        "fetch https://u:***@h.example/x with Bearer ***",
        "ann logged in, secret=***",
    ]
