"""In-process llama.cpp on the packaged GGUF: the default backend."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Sequence
from typing import Any

from coach import offline
from coach.config import Config
from coach.errors import BackendError, SetupError
from coach.llm.generator import CALL_TIMEOUT_S, CallClock, Generator, Messages
from coach.llm.modelfiles import FIX, ensure_model


class LlamaCppGenerator(Generator):
    """In-process llama.cpp on the packaged GGUF. Loads on first use; one call at a time.

    Schema calls are enforced by a grammar, so the text is valid JSON unless `max_tokens` cut it.
    The KV cache keeps the previous call's tokens: a prompt that starts like the previous one
    (same system prompt, same sources) only prefills the part that differs.
    Cancel and timeout are checked once per token; the prefill itself cannot be interrupted.
    """

    def __init__(self, cfg: Config, *, timeout_s: float = CALL_TIMEOUT_S):
        self.cfg = cfg
        self.name = f"llama.cpp:{cfg.model}"
        self.timeout_s = timeout_s
        self._llm = None
        self._formatter = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        if self._llm is not None:
            return
        offline.enforce()
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:
            raise SetupError(f"llama-cpp-python is not installed. Run: {FIX}") from exc
        path = ensure_model(self.cfg.model, self.cfg.models_dir)
        try:
            llm = Llama(
                model_path=str(path),
                n_ctx=self.cfg.n_ctx,
                n_threads=self.cfg.threads,
                n_batch=512,
                verbose=False,
            )
        except Exception as exc:  # llama.cpp raises ValueError for unreadable files
            raise SetupError(f"Could not load the model {path}: {exc}. Run: {FIX}") from exc
        if llm.chat_format == "chat_template.default":
            # The same formatter llama.cpp builds from the GGUF's template (llama.py, __init__),
            # so the prompt we count is the prompt it runs, default system message included.
            eos, bos = llm.token_eos(), llm.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=llm.metadata["tokenizer.chat_template"],
                eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
                bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
            )
        self._llm = llm
        # Free the model while the interpreter is still whole: llama-cpp-python's __del__ at
        # shutdown runs after its C bindings are gone and prints a TypeError traceback.
        atexit.register(self.close)

    def close(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()

    def tokenize_len(self, text: str) -> int:
        self.warm_up()
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prompt_tokens(self, messages: Messages) -> int:
        """Tokens of the prompt as llama.cpp runs it (chat template applied).

        In streaming mode llama-cpp-python 0.3.36 reports no `usage`, so we count ourselves.
        The Qwen template adds a default system message when there is none, which is why
        counting only the message contents undercounts by ~25 tokens.
        """
        self.warm_up()
        if self._formatter is None:  # a model without a GGUF template: close enough
            return sum(self.tokenize_len(m["content"]) + 4 for m in messages)
        prompt = self._formatter(messages=messages).prompt
        return len(self._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    def choice_probabilities(
        self, messages: Messages, choices: Sequence[str], *, fresh: bool = False
    ) -> dict[str, float]:
        """Read the next-token logits after the prompt: one prefill, no decoding.

        Each choice counts by the first token of its spellings ("yes", "Yes", " yes"). The
        prompt reuses the KV cache's common prefix the way `Llama.generate` does, so a fixed
        system prompt and few-shot turns are prefilled once. Uses llama-cpp-python internals
        (`_ctx`, `_input_ids`) of the pinned 0.3.36; a real-model test covers it.
        """
        self.warm_up()
        if self._formatter is None:
            raise NotImplementedError
        import numpy as np

        prompt = self._formatter(messages=messages).prompt
        llm = self._llm
        with self._lock:
            tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            reuse = 0
            for a, b in zip([] if fresh else llm._input_ids, tokens[:-1], strict=False):
                if a != b:
                    break
                reuse += 1
            if reuse > 0 and llm._ctx.kv_cache_seq_rm(-1, reuse, -1):
                llm.n_tokens = reuse
            else:
                llm.reset()
                reuse = 0
            try:
                llm.eval(tokens[reuse:])
                logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
            except Exception as exc:  # context full, a broken model state
                raise BackendError(f"The local model failed while scoring: {exc}") from exc
            logits = logits.astype(np.float64)
        mass = {}
        for choice in choices:
            ids = {
                llm.tokenize(form.encode("utf-8"), add_bos=False, special=False)[0]
                for form in (choice, choice.capitalize(), " " + choice, " " + choice.capitalize())
            }
            mass[choice] = list(ids)
        every = np.array([i for ids in mass.values() for i in ids])
        top = logits[every].max()
        probs = {c: float(np.exp(logits[ids] - top).sum()) for c, ids in mass.items()}
        total = sum(probs.values())
        return {c: p / total for c, p in probs.items()}

    def stream(
        self, messages, *, max_tokens=256, temperature=0.0, schema=None, cancel=None, seed=None
    ):
        self.warm_up()
        kwargs: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
        if seed is not None:
            kwargs["seed"] = seed
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        with self._lock:
            clock = CallClock()
            pieces: list[str] = []
            finish = "stop"
            chunks = None
            try:
                n_prompt = self.prompt_tokens(messages)
                chunks = self._llm.create_chat_completion(messages, stream=True, **kwargs)
                for chunk in chunks:
                    if cancel is not None and cancel.cancelled:
                        finish = "cancelled"
                        break
                    if clock.elapsed() > self.timeout_s:
                        raise BackendError(
                            f"The local model took longer than {self.timeout_s:.0f} s; "
                            "shorten the prompt or lower max_tokens."
                        )
                    choice = chunk["choices"][0]
                    piece = choice.get("delta", {}).get("content") or ""
                    if piece:
                        clock.piece()
                        pieces.append(piece)
                        yield piece
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            except BackendError:
                raise
            except Exception as exc:  # ValueError (context full, bad schema), RuntimeError
                raise BackendError(f"The local model failed while generating: {exc}") from exc
            finally:
                if hasattr(chunks, "close"):
                    # Stops llama.cpp right away on cancel, timeout or an abandoned stream.
                    chunks.close()
            # The KV cache now holds the prompt and every completion token that was fed back.
            # The last sampled token is fed back only when it ended the text (end-of-turn), so
            # after "length" or a cancel one more token was generated than the cache shows.
            fed_back = self._llm.n_tokens - n_prompt
            n_completion = fed_back if finish == "stop" else fed_back + 1
            n_completion = max(0, min(n_completion, max_tokens))
            return clock.reply("".join(pieces), n_prompt, n_completion, finish, self.name)
