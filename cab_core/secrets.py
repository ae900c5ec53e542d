"""Keeping secrets out of everything cab writes, in time linear in the text.

A :class:`Redactor` knows the secret values of a run (the API key, and every value
of this process's environment whose name looks secret) and masks them, plus anything
shaped like a well-known key (:data:`SHAPES`), in any text before it reaches a file,
a log or a page.  Only the secret is replaced; the text around it stays.

Why it is linear: a single regular expression with one alternative per key shape
makes Python's engine try every alternative at every position, and an unbounded
"anything up to ``-----END``" makes each ``-----BEGIN`` scan to the end of the text
(1 MB of ``-----BEGIN PRIVATE KEY-----`` once took minutes).  Here each shape is
its own pattern that starts with a literal head (``sk-``, ``ghp_``, ``-----BEGIN``),
which the engine finds with its fast literal search; the head is refused in the
middle of a word by a fixed-width look-behind right after it, and its body is a
possessive character class, so no body is ever scanned twice.  A private key is
masked only when what lies between its markers is a real key body (base64 and
PEM headers): a solution wrapped in ``# -----BEGIN PRIVATE KEY-----`` comment lines
keeps its code visible.
"""

from __future__ import annotations

import os
import re
from typing import Iterable

MASK = "[REDACTED]"
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.I)
MIN_SECRET_LEN = 6
_WORD = r"[A-Za-z0-9_\-]"
_B64 = r"[A-Za-z0-9+/=\s]"
#: Key shapes as ``(head, body)``: a key is the head, not preceded by a word character, then the body.
SHAPES: tuple[tuple[str, str], ...] = (
    ("sk-", r"[A-Za-z0-9_\-]{16,}+"),                       # OpenAI, Anthropic (sk-ant-), OpenRouter, DeepSeek
    ("AKIA", r"[0-9A-Z]{16}"), ("ASIA", r"[0-9A-Z]{16}"),   # AWS access key ids
    ("gh", r"[pousr]_[A-Za-z0-9]{30,}+"), ("github_pat_", r"[A-Za-z0-9_]{40,}+"),
    ("glpat-", r"[A-Za-z0-9_\-]{20,}+"),                     # GitLab
    ("xox", r"[baprs]-[A-Za-z0-9-]{10,}+"),                  # Slack
    ("AIza", r"[0-9A-Za-z_\-]{35}"),                         # Google
    ("nvapi-", r"[A-Za-z0-9_\-]{20,}+"),                     # NVIDIA
    ("hf_", r"[A-Za-z0-9]{30,}+"),                           # Hugging Face
    ("gsk_", r"[A-Za-z0-9]{30,}+"), ("xai-", r"[A-Za-z0-9]{30,}+"), ("pplx-", r"[A-Za-z0-9]{30,}+"),
    ("r8_", r"[A-Za-z0-9]{30,}+"),
    ("eyJ", r"[A-Za-z0-9_\-]{10,}+\.eyJ[A-Za-z0-9_\-]{10,}+\.[A-Za-z0-9_\-]{10,}+"),  # JWTs
    ("-----BEGIN ", r"[A-Z ]{0,40}PRIVATE KEY-----\s*+(?:[A-Za-z-]{1,40}+: [^\n]{0,200}+\n)*+"
                    + _B64 + r"++-----END [A-Z ]{0,40}PRIVATE KEY-----"),
)
_PATTERNS = tuple((head, re.compile(re.escape(head) + f"(?<!{_WORD}{re.escape(head)})" + body)) for head, body in SHAPES)
#: Whatever follows ``Bearer `` in a header line (found by its literal tail; the look-behind checks the ``B``).
_BEARER = re.compile(r"earer (?<=[Bb]earer )[A-Za-z0-9_\-.=+/]{20,}+")


def mask_keys(text: str, values: Iterable[str] = ()) -> str:
    """``text`` with the given secret values and every key-shaped string masked (linear time).

    Known values first (``str.replace``), longest first so a value holding another is
    masked whole; then each shape, by a substitution that runs entirely in the
    regular-expression engine (no Python call per match).
    """
    if not text:
        return text
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    for head, pattern in _PATTERNS:
        if head in text:
            text = pattern.sub(MASK, text)
    if "earer " in text:
        text = _BEARER.sub("earer " + MASK, text)
    return text


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
        return mask_keys(text, self.values)

    def env_listing(self, env: dict) -> list[str]:
        """Names only: what a span may say about an environment."""
        return sorted(env)
