"""Text generation backends behind one interface, with typed replies.

A backend implements `stream(messages, ...)`, yielding text pieces and finally returning a
`Reply`; `complete()` is derived from it. Structured calls pass a JSON schema, which llama.cpp
enforces with a grammar. Leaves out: prompts (prompts.py) and what the answer means (answer.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from coach import offline
from coach.config import Config
from coach.errors import BackendError, SetupError
from coach.modelfiles import FIX, ensure_model

Messages = list[dict[str, str]]


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

    def stream(
        self,
        messages: Messages,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        schema: dict | None = None,
        cancel: CancelToken | None = None,
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


class LlamaCppGenerator(Generator):
    """In-process llama.cpp on the packaged GGUF. Loads on first use; one call at a time."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.name = f"llama.cpp:{cfg.model}"
        self._llm = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        if self._llm is not None:
            return
        offline.enforce()
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise SetupError(f"llama-cpp-python is not installed. Run: {FIX}") from exc
        path = ensure_model(self.cfg.model, self.cfg.models_dir)
        try:
            self._llm = Llama(
                model_path=str(path),
                n_ctx=self.cfg.n_ctx,
                n_threads=self.cfg.threads,
                n_batch=512,
                verbose=False,
            )
        except Exception as exc:  # llama.cpp raises ValueError for unreadable files
            raise SetupError(f"Could not load the model {path}: {exc}. Run: {FIX}") from exc

    def tokenize_len(self, text: str) -> int:
        self.warm_up()
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream(self, messages, *, max_tokens=256, temperature=0.0, schema=None, cancel=None):
        self.warm_up()
        kwargs: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        with self._lock:
            start = time.perf_counter()
            first = None
            pieces: list[str] = []
            finish = "stop"
            usage_prompt = 0
            try:
                chunks = self._llm.create_chat_completion(messages, stream=True, **kwargs)
                for chunk in chunks:
                    if cancel is not None and cancel.cancelled:
                        finish = "cancelled"
                        break
                    choice = chunk["choices"][0]
                    piece = choice.get("delta", {}).get("content") or ""
                    if piece:
                        if first is None:
                            first = time.perf_counter() - start
                        pieces.append(piece)
                        yield piece
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            except (RuntimeError, ValueError) as exc:
                raise BackendError(f"The local model failed while generating: {exc}") from exc
            text = "".join(pieces)
            usage_prompt = self._prompt_tokens(messages)
            total = time.perf_counter() - start
        return Reply(
            text=text,
            prompt_tokens=usage_prompt,
            completion_tokens=self.tokenize_len(text) if text else 0,
            first_token_s=first if first is not None else total,
            total_s=total,
            finish_reason=finish,
            model=self.name,
        )

    def _prompt_tokens(self, messages: Messages) -> int:
        # The chat template adds a few tokens per message; this count is what the user pays.
        return sum(self.tokenize_len(m["content"]) + 4 for m in messages)


@lru_cache(maxsize=4)
def _generator_for(cfg: Config) -> Generator:
    if cfg.backend == "llama_cpp":
        return LlamaCppGenerator(cfg)
    raise SetupError(f"The {cfg.backend} backend is not built yet; use backend = 'llama_cpp'.")


def get_generator(cfg: Config) -> Generator:
    """The one generator per configuration in this process (models load once)."""
    return _generator_for(cfg)
