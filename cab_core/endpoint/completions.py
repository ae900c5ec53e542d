"""OpenAI legacy Completions (``POST /v1/completions``): a prompt in, text out.

Streams and usage work as in Chat Completions (``stream_options.include_usage`` is
honoured by the same servers); each choice carries ``text`` instead of a message.
The prompt is recorded as one user message so the report shows it like a chat.
"""

from __future__ import annotations

from typing import Any

from .chat import ChatCompletions
from .protocol import Reading, register_protocol, text_of


class Completions(ChatCompletions):
    name = "completions"
    paths = ("/completions",)

    @staticmethod
    def _prompt(body: dict) -> str:
        prompt = body.get("prompt")
        if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
            return "\n".join(prompt)
        return prompt if isinstance(prompt, str) else text_of(prompt) if prompt is not None else ""

    def messages(self, body: dict) -> tuple:
        return ({"role": "user", "content": self._prompt(body)},)

    def prompt_texts(self, body: dict) -> tuple[list[str], int]:
        return [self._prompt(body)], 0

    def probe_body(self, model: str) -> dict:
        return {"model": model, "prompt": "Say OK.", "max_tokens": 1, "stream": False}

    def read_choice(self, reading: Reading, choice: dict, message: Any, arrived: Any) -> None:
        if isinstance(choice.get("text"), str):
            reading.text(choice["text"], arrived)
        if choice.get("finish_reason"):
            reading.finish_reason = str(choice["finish_reason"])


register_protocol(Completions())
