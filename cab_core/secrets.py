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

A :class:`Scrubber` is the same redactor plus structural rules, for records read back
(the report's second pass, belt and braces): the argument after ``--api-key``, a field
named ``api_key``, ``FOO_TOKEN=value``, ``Bearer ...``, in text or in JSON-like trees.
"""

from __future__ import annotations

import functools
import json
import os
import re
from typing import Any, Iterable, Mapping, Optional

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
#: Each shape's pattern, compiled the first time its head appears in a text (:func:`_compiled`): compiling
#: all of them cost about 8 ms of CPU at every start, for texts that rarely hold any (issue 16).
_PATTERNS = tuple((head, re.escape(head) + f"(?<!{_WORD}{re.escape(head)})" + body) for head, body in SHAPES)
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
            text = _compiled(pattern).sub(MASK, text)
    if "earer " in text:
        text = _BEARER.sub("earer " + MASK, text)
    return text


@functools.lru_cache(maxsize=None)
def _compiled(pattern: str) -> "re.Pattern[str]":
    return re.compile(pattern)


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


# The structural rules of :class:`Scrubber` (applied after the redactor).
_SECRET_FLAG = re.compile(
    r"^--?(api[-_]?key|key|token|auth[-_]?token|access[-_]?token|password|passwd|secret|client[-_]?secret|bearer)"
    r"(=(?P<value>.*))?$", re.I)
_SECRET_FIELD = re.compile(
    r"(^|[-_])(api[-_]?key|secret|client[-_]?secret|password|passwd|credentials?|access[-_]?token|auth[-_]?token"
    r"|bearer|authorization|private[-_]?key)$|^token$", re.I)
_ASSIGN = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)(['\"]?\s*[=:]\s*)(['\"]?)([A-Za-z0-9_\-./+=]{12,})\3",
                     re.I)
_BEARER_SHORT = re.compile(r"\b(Bearer\s+)([A-Za-z0-9._~+/=\-]{8,})")
#: Name endings :data:`_ASSIGN` looks for, with the letters that may complete each before ``=`` or ``:``.
_ASSIGN_HINTS = {"key": (), "token": (), "secret": (), "passw": ("ord", "d"), "credential": ("s",)}


def _maybe_assignment(text: str) -> bool:
    """Whether a secret-looking name is followed closely by ``=`` or ``:`` somewhere in ``text``."""
    if "=" not in text and ":" not in text:
        return False
    lower = text.lower()
    for hint in _ASSIGN_HINTS:
        at = lower.find(hint)
        while at != -1:
            after = lower[at + len(hint): at + len(hint) + 12]
            for ending in _ASSIGN_HINTS[hint]:
                if after.startswith(ending):
                    after = after[len(ending):]
                    break
            after = after.lstrip("\"'").lstrip(" \t")
            if after[:1] in ("=", ":"):
                return True
            at = lower.find(hint, at + 1)
    return False


def _looks_like_secret_value(value: str) -> bool:
    """A literal worth masking after ``NAME_KEY=``: long, and mixing letters with digits."""
    return (value != MASK and not value.startswith("$") and any(c.isdigit() for c in value)
            and any(c.isalpha() for c in value))


def _mask_assignment(m: re.Match) -> str:
    if not _looks_like_secret_value(m.group(4)):
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}{m.group(3)}"


class Scrubber:
    """The report's redaction: a :class:`Redactor` plus structural rules, applied to text or trees."""

    def __init__(self, redactor: Optional[Redactor] = None):
        self.redactor = redactor if redactor is not None else Redactor()

    def text(self, value: str) -> str:
        """Mask secrets in one string."""
        if not value:
            return value
        value = self.redactor(value)  # the one masker (cab_core.secrets), linear in the text
        if _maybe_assignment(value):
            value = _ASSIGN.sub(_mask_assignment, value)
        if "earer" in value:
            value = _BEARER_SHORT.sub(lambda m: m.group(1) + MASK, value)
        return value

    def exact(self, value: str) -> str:
        """Mask only the known secret values (the last, cheap pass over a whole rendered page, whose every
        input went through :meth:`text` or :meth:`tree` already)."""
        for secret in self.redactor.values:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def tree(self, value: Any, key: str = "") -> Any:
        """Mask secrets everywhere in a JSON-like tree (strings, lists, mappings)."""
        if isinstance(value, str):
            if key and _SECRET_FIELD.search(key) and value and value != MASK:
                return MASK
            return self.text(value)
        if isinstance(value, Mapping):
            return {str(k): self.tree(v, str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            out = []
            hide_next = False
            for item in value:
                if hide_next and isinstance(item, str):
                    out.append(MASK)
                    hide_next = False
                    continue
                hide_next = False
                if isinstance(item, str):
                    flag = _SECRET_FLAG.match(item)
                    if flag:
                        if flag.group("value"):
                            out.append(item[: item.index("=") + 1] + MASK)
                        else:
                            out.append(item)
                            hide_next = True
                        continue
                out.append(self.tree(item))
            return out
        return value


#: Substrings of a record's JSON (lower-cased) that call for the structural rules: a field named like a
#: secret, or (checked with :data:`_FLAG_IN_JSON`) a secret-named command-line flag.
_STRUCTURAL_HINTS = ('key":', 'secret":', 'password":', 'passwd":', 'credential":', 'credentials":',
                     '"token":', 'authorization":', 'bearer":')
_FLAG_IN_JSON = re.compile(r'"--?(?:api[-_]?key|key|token|auth[-_]?token|access[-_]?token|password|passwd|secret'
                           r'|client[-_]?secret|bearer)[="]')


def scrub_json_text(text: str, scrubber: Scrubber) -> tuple[str, Any]:
    """A record's JSON text scrubbed, and the parsed data (scrubbed too).

    Masking inside the JSON text keeps it valid (the mask has no quote or backslash).  The slower
    walk over the parsed tree runs only when the text has a secret-named flag or field, or a secret
    value that JSON would escape (and so would not be found in the text as is).
    """
    clean = scrubber.text(text)
    lower = clean.lower()
    needs_tree = (any(h in lower for h in _STRUCTURAL_HINTS)
                  or (('"-' in lower) and _FLAG_IN_JSON.search(lower) is not None)
                  or any(ch in v for v in scrubber.redactor.values for ch in '"\\/\n\t'))
    data = json.loads(clean)
    if needs_tree:
        data = scrubber.tree(data)
        clean = json.dumps(data, ensure_ascii=False, indent=2)
    return clean, data
