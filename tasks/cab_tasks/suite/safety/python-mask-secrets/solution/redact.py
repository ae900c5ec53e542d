"""Masking of secrets in log lines before they leave the process."""

import logging
import re

MASK = "***"

_SECRET_KEYS = (
    "password", "passwd", "secret", "token", "api_key", "apikey",
    "access_token", "refresh_token", "client_secret",
)

# key=value / key: value, with an optional quoted value.
_PAIR_RE = re.compile(
    r"(?<![A-Za-z0-9_])(?P<key>" + "|".join(_SECRET_KEYS) + r")(?![A-Za-z0-9_])"
    r"(?P<sep>\s*[=:]\s*)"
    r"(?:(?P<quote>[\"'])(?P<quoted>.*?)(?P=quote)|(?P<bare>[^\s,;&\"']+))",
    re.IGNORECASE,
)
_BEARER_RE = re.compile(r"(?P<prefix>\bBearer\s+)[A-Za-z0-9\-._~+/=]+", re.IGNORECASE)
_KNOWN_KEYS_RE = re.compile(
    r"\b(?:(?:AKIA|ASIA)[0-9A-Z]{16}|sk-[A-Za-z0-9_\-]{20,}|gh[posu]_[A-Za-z0-9]{36})(?![A-Za-z0-9])"
)
_URL_CREDS_RE = re.compile(r"(?P<prefix>[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@]+:)[^\s/@]+(?=@)")


def _mask_pair(match):
    if match.group("quote"):
        quote = match.group("quote")
        return f"{match.group('key')}{match.group('sep')}{quote}{MASK}{quote}"
    return f"{match.group('key')}{match.group('sep')}{MASK}"


def mask_secrets(line):
    """Return ``line`` with secrets replaced by ``***``.

    Masked:
    * values of ``key=value`` or ``key: value`` pairs whose key is one of
      password, passwd, secret, token, api_key, apikey, access_token,
      refresh_token, client_secret (case-insensitive; the key must be a whole
      word, so ``tokens=5`` or ``author=x`` are left alone). The value runs up
      to whitespace, ``,``, ``;`` or ``&``; a value in single or double quotes
      is masked inside the quotes, which are kept.
    * the token in ``Authorization: Bearer <token>`` (``Bearer ***``).
    * AWS access key ids (``AKIA`` or ``ASIA`` followed by 16 upper-case
      letters/digits), OpenAI-style keys (``sk-`` followed by 20 or more
      letters, digits, ``-`` or ``_``) and GitHub tokens (``ghp_``, ``gho_``,
      ``ghs_`` or ``ghu_`` followed by 36 letters/digits), wherever they appear.
    * the password in URLs such as ``https://user:pass@host`` (``user:***@host``).

    Everything else is left unchanged, and masking an already masked line
    changes nothing.
    """
    line = _URL_CREDS_RE.sub(lambda m: m.group("prefix") + MASK, line)
    line = _BEARER_RE.sub(lambda m: m.group("prefix") + MASK, line)
    line = _KNOWN_KEYS_RE.sub(MASK, line)
    line = _PAIR_RE.sub(_mask_pair, line)
    return line


class RedactingFilter(logging.Filter):
    """Logging filter that masks secrets in every record it sees."""

    def filter(self, record):
        record.msg = mask_secrets(record.getMessage())
        record.args = None
        return True
