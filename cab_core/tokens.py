"""Token counts without a tokenizer, for the scripted model server's ``usage``.

cab never loads a tokenizer: the scripted endpoint must run offline and the numbers
only need to be honest (proportional to what was sent and generated) and stable.
The estimate blends the two usual rules of thumb for BPE tokenizers on English and
code: about four UTF-8 bytes per token, and about four tokens per three words.
Bytes alone undercount prose full of short words; words alone miss long
identifiers and punctuation runs, so the mean of the two is closer than either.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable, Mapping, Optional

#: Tokens a chat message costs beyond its text (role, separators), as OpenAI documents.
MESSAGE_OVERHEAD = 3
#: Tokens that prime every assistant reply.
REPLY_OVERHEAD = 3

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
