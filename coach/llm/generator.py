"""The one generation interface: `Generator` (one abstract method, `stream`), its typed `Reply`,
the `CancelToken` a Stop button sets, and the per-call clock the backends share.

Backends live one per module (llamacpp, openai_server, hf_transformers, fake) and are chosen
in one factory (backends.py). All failures surface as `SetupError` (fix the install) or
`BackendError` (the call failed). Leaves out: prompts (prompts/) and what an answer means.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

Messages = list[dict[str, str]]

# A whole call (prefill + decode) may take this long before it is abandoned. A 4k-token prompt
# prefills in ~45 s on 2 cores and 320 answer tokens decode in ~12 s, so this only catches a
# runaway or a wedged server, not a slow answer on a busy machine.
CALL_TIMEOUT_S = 300.0
# Connecting to a server on the LAN or loopback is instant; waiting longer only delays the
# "server is not running" message.
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    first_token_s: float
    total_s: float
    finish_reason: str  # "stop", "length" or "cancelled"
    model: str


class CancelToken:
    """Set from another thread (a Stop button) to end a stream early."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


class Generator:
    """One abstract method, `stream`; the rest is derived."""

    name = "generator"

    def warm_up(self) -> None:
        """Load the model or connect; backends override it, calling it again is free."""

    def stream(
        self,
        messages: Messages,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        schema: dict | None = None,
        cancel: CancelToken | None = None,
        seed: int | None = None,
    ) -> Iterator[str]:
        """Yield text pieces; the generator's return value (StopIteration.value) is a Reply."""
        raise NotImplementedError

    def complete(self, messages: Messages, **kwargs: Any) -> Reply:
        it = self.stream(messages, **kwargs)
        while True:
            try:
                next(it)
            except StopIteration as stop:
                return stop.value

    def choice_probabilities(
        self, messages: Messages, choices: Sequence[str], *, fresh: bool = False
    ) -> dict[str, float]:
        """The model's probability for each one-word reply, renormalised over `choices`.

        `fresh` starts from an empty KV cache: the numbers then depend only on the calls made
        since, so a sequence of calls that starts fresh is repeatable to the last bit.

        A graded signal where a schema call gives only a verdict; backends that cannot read
        next-token logits raise NotImplementedError and callers fall back to a schema call.
        """
        raise NotImplementedError


class CallClock:
    """First-token and total time of one call, measured from its start."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: float | None = None

    def piece(self) -> None:
        if self.first is None:
            self.first = self.elapsed()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def reply(self, text: str, prompt: int, completion: int, finish: str, model: str) -> Reply:
        total = self.elapsed()
        first = self.first if self.first is not None else total
        return Reply(text, prompt, completion, first, total, finish, model)
