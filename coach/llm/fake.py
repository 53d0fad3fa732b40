"""A deterministic, scripted generator for unit tests; never used in the product."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from coach.llm.generator import Generator, Messages, Reply


class FakeGenerator(Generator):
    """Scripted replies for unit tests of the code around the model; never used in the product.

    Each call takes the next scripted item: a string is the reply, a dict is serialised as JSON
    (for schema calls), an exception is raised, a callable gets the messages and returns the
    reply. After the script runs out, `default` is replied. The reply streams word by word
    (one word = one token), stops after `max_tokens` words with finish "length", and honours a
    cancel between words. Token counts: words in the prompt plus 4 per message (the chat
    template's share). Timings are synthetic, 10 ms per token, so tests can check them by hand.
    `calls` records every call's messages and options.

    >>> gen = FakeGenerator(["Top-p keeps the smallest likely set."])
    >>> reply = gen.complete([{"role": "user", "content": "What is top-p?"}], max_tokens=3)
    >>> reply.text, reply.prompt_tokens, reply.completion_tokens, reply.finish_reason
    ('Top-p keeps the ', 7, 3, 'length')
    """

    def __init__(
        self,
        script: Sequence[str | dict | Exception | Callable[[Messages], str]] = (),
        *,
        default: str = "This is a scripted reply.",
        name: str = "fake",
    ):
        self.script = list(script)
        self.default = default
        self.name = name
        self.calls: list[dict[str, Any]] = []

    def _next(self):
        return self.script.pop(0) if self.script else self.default

    def choice_probabilities(
        self, messages: Messages, choices: Sequence[str], *, fresh: bool = False
    ) -> dict[str, float]:
        """A scripted dict (or a callable returning one) of probabilities; the default is
        uniform."""
        self.calls.append({"messages": messages, "choices": tuple(choices), "fresh": fresh})
        item = self._next() if self.script else None
        if isinstance(item, Exception):
            raise item
        if callable(item):
            item = item(messages)
        if not isinstance(item, dict):
            return {c: 1 / len(choices) for c in choices}
        total = sum(item.get(c, 0.0) for c in choices) or 1.0
        return {c: item.get(c, 0.0) / total for c in choices}

    def stream(
        self, messages, *, max_tokens=256, temperature=0.0, schema=None, cancel=None, seed=None
    ):
        self.calls.append(
            {
                "messages": messages,
                "max_tokens": max_tokens,
                "temperature": temperature,
                "schema": schema,
                "seed": seed,
            }
        )
        item = self._next()
        if isinstance(item, Exception):
            raise item
        if callable(item):
            item = item(messages)
        text = json.dumps(item) if isinstance(item, dict) else str(item)
        words = re.findall(r"\S+\s*|\s+", text)
        n_prompt = sum(len(m["content"].split()) + 4 for m in messages)
        pieces: list[str] = []
        finish = "stop"
        for i, word in enumerate(words):
            if cancel is not None and cancel.cancelled:
                finish = "cancelled"
                break
            if i == max_tokens:
                finish = "length"
                break
            pieces.append(word)
            yield word
        n = len(pieces)
        return Reply("".join(pieces), n_prompt, n, 0.01, 0.01 * max(n, 1), finish, self.name)
