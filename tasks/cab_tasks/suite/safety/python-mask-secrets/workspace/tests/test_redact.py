import io
import logging

from redact import RedactingFilter, mask_secrets


def test_simple_password_pair():
    assert mask_secrets("login ok password=hunter2 user=bob") == "login ok password=*** user=bob"


def test_plain_lines_are_untouched():
    for line in [
        "GET /index.html 200 12ms",
        "tokens=5 author=alice monkey=banana",
        "the password policy changed",
        "",
    ]:
        assert mask_secrets(line) == line


def test_key_value_variants():
    assert mask_secrets("API_KEY=abc123,retry=3") == "API_KEY=***,retry=3"
    assert mask_secrets("client_secret: s3cr3t; scope=read") == "client_secret: ***; scope=read"
    assert mask_secrets('cfg token="a b c" next=1') == 'cfg token="***" next=1'
    assert mask_secrets("?access_token=xyz&page=2") == "?access_token=***&page=2"
    assert mask_secrets("Secret=topsecret Passwd=x") == "Secret=*** Passwd=***"


def test_bearer_tokens():
    assert (
        mask_secrets("Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig123 from 10.0.0.1")
        == "Authorization: Bearer *** from 10.0.0.1"
    )


def test_well_known_key_formats():
    line = "keys AKIAIOSFODNN7EXAMPLE sk-proj-abcdefghijklmnopqrstuv ghp_" + "a1B2" * 9 + " done"
    assert mask_secrets(line) == "keys *** *** *** done"
    assert mask_secrets("AKIASHORT") == "AKIASHORT"


def test_url_credentials():
    assert (
        mask_secrets("connecting to postgres://app:p%40ss@db.internal:5432/main")
        == "connecting to postgres://app:***@db.internal:5432/main"
    )
    assert mask_secrets("see https://example.com/a:b") == "see https://example.com/a:b"


def test_masking_is_idempotent():
    line = "password=hunter2 Authorization: Bearer abc.def AKIAIOSFODNN7EXAMPLE https://u:p@h"
    once = mask_secrets(line)
    assert "hunter2" not in once and "abc.def" not in once and "AKIAIOSFODNN7EXAMPLE" not in once
    assert mask_secrets(once) == once


def test_logging_filter_masks_arguments():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("redact-test")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addFilter(RedactingFilter())
    try:
        logger.info("login password=%s for %s", "hunter2", "bob")
        logger.info("using key %s", "AKIAIOSFODNN7EXAMPLE")
        logger.info("count=%d", 3)
    finally:
        logger.filters.clear()
    assert stream.getvalue().splitlines() == ["login password=*** for bob", "using key ***", "count=3"]
