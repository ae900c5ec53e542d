"""Keeping secrets out of everything cab writes.

A :class:`Redactor` knows the secret values of a run (the API key, and every value
of this process's environment whose name looks secret) and masks them, plus anything
shaped like a well-known key, in any text before it reaches a file, a log or a page.
"""

from __future__ import annotations

import os
import re
from typing import Iterable

MASK = "[REDACTED]"
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.I)
#: Shapes of well-known keys.  Each must start at a word boundary, so text such as
#: ``disk-usage-calculator`` (which contains ``sk-usage-...``) is left alone.
KEY_SHAPES = re.compile(
    r"(?<![A-Za-z0-9_\-])("
    r"sk-[A-Za-z0-9_\-]{16,}"                      # OpenAI, Anthropic (sk-ant-), OpenRouter (sk-or-), DeepSeek
    r"|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}"          # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}"
    r"|glpat-[A-Za-z0-9_\-]{20,}"                   # GitLab
    r"|xox[baprs]-[A-Za-z0-9-]{10,}"                # Slack
    r"|AIza[0-9A-Za-z_\-]{35}"                      # Google
    r"|nvapi-[A-Za-z0-9_\-]{20,}"                   # NVIDIA
    r"|hf_[A-Za-z0-9]{30,}"                         # Hugging Face
    r"|gsk_[A-Za-z0-9]{30,}|xai-[A-Za-z0-9]{30,}|pplx-[A-Za-z0-9]{30,}|r8_[A-Za-z0-9]{30,}"
    r"|eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"  # JWTs
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"
    r")"
    r"|(?<=[Bb]earer )[A-Za-z0-9_\-.=+/]{20,}"       # whatever follows "Bearer " in a header line
)
MIN_SECRET_LEN = 6


def secret_option_values(options: dict) -> list[str]:
    """Values of ``-o`` options whose name looks secret (``env.OPENAI_API_KEY=...``): masked like the key."""
    return [str(v) for k, v in (options or {}).items() if SECRET_NAME.search(str(k)) and v]


class Redactor:
    """Masks known secret values and key-shaped strings."""

    def __init__(self, secrets: Iterable[str] = (), *, include_environment: bool = True):
        values = {s for s in secrets if s and len(s) >= MIN_SECRET_LEN}
        if include_environment:
            values |= {v for k, v in os.environ.items() if SECRET_NAME.search(k) and v and len(v) >= MIN_SECRET_LEN}
        # Longest first, so a key that contains another is masked whole.
        self.values = sorted(values, key=len, reverse=True)

    def add(self, secret: str) -> None:
        if secret and len(secret) >= MIN_SECRET_LEN and secret not in self.values:
            self.values = sorted([*self.values, secret], key=len, reverse=True)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return KEY_SHAPES.sub(MASK, text)

    def env_listing(self, env: dict) -> list[str]:
        """Names only: what a span may say about an environment."""
        return sorted(env)
