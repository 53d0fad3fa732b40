"""Text generation backends behind one interface, with typed replies.

A backend implements `stream(messages, ...)`, yielding text pieces and finally returning a
`Reply` (token counts, first-token and total time); `complete()` is derived from it. Backends:
in-process llama.cpp on the packaged GGUF (default), any OpenAI-compatible server (vLLM,
llama.cpp server, Ollama), Hugging Face transformers, and a scripted fake for unit tests. All
failures surface as `SetupError` (fix the install) or `BackendError` (the call failed).
Leaves out: prompts (prompts.py) and what the answer means (answer.py).
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from coach import offline
from coach.config import Config
from coach.errors import BackendError, SetupError
from coach.llm.modelfiles import FIX, ensure_model

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


class _Clock:
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


# ---------------------------------------------------------------------------------------------
# In-process llama.cpp


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
            clock = _Clock()
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


# ---------------------------------------------------------------------------------------------
# OpenAI-compatible server


def server_base_url(endpoint: str) -> str:
    """The OpenAI client's base URL: a bare host gets the conventional `/v1`.

    >>> server_base_url("http://127.0.0.1:8000")
    'http://127.0.0.1:8000/v1'
    >>> server_base_url("http://gpu-box:11434/v1/")
    'http://gpu-box:11434/v1'
    >>> server_base_url("https://example.org/openai/v1")
    'https://example.org/openai/v1'
    """
    url = endpoint.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if sep and "/" not in rest:
        return url + "/v1"
    return url


class OpenAIServerGenerator(Generator):
    """Any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama) at `cfg.endpoint`.

    Schema calls send llama.cpp server's `{"type": "json_object", "schema": ...}`, which it
    enforces with a grammar (it answers OpenAI's `json_schema` form with HTTP 500); servers that
    ignore the schema still return a JSON object. Cancelling closes the HTTP stream, which tells
    the server to stop. No retries: a local server that failed once will fail again, and the
    user should hear about it at once.
    """

    def __init__(self, cfg: Config, *, timeout_s: float = CALL_TIMEOUT_S):
        if not cfg.endpoint:
            raise SetupError("The openai backend needs an endpoint: set COACH_ENDPOINT=http://...")
        self.cfg = cfg
        self.base_url = server_base_url(cfg.endpoint)
        self.timeout_s = timeout_s
        self.model_id = cfg.endpoint_model
        self.name = f"openai:{self.base_url}"
        self._client = None

    def warm_up(self) -> None:
        if self._client is not None and self.model_id is not None:
            return
        try:
            import openai
        except ImportError as exc:
            raise SetupError(f"The openai package is not installed. Run: {FIX}") from exc
        if self._client is None:
            self._client = openai.OpenAI(
                base_url=self.base_url,
                # Local servers ignore the key but the client insists on one; a real key set in
                # the client's own variable is passed on for servers started with --api-key.
                api_key=os.environ.get("OPENAI_API_KEY") or "local",
                timeout=openai.Timeout(self.timeout_s, connect=CONNECT_TIMEOUT_S),
                max_retries=0,
            )
        if self.model_id is None:
            try:
                models = list(self._client.models.list())
            except Exception as exc:
                raise self._error(exc) from exc
            if not models:
                raise BackendError(
                    f"The model server at {self.base_url} lists no models; load one or set "
                    "endpoint_model in the config."
                )
            # llama.cpp server reports the .gguf path; the id is what requests must name.
            self.model_id = models[0].id
        self.name = f"openai:{self.model_id}"

    def _error(self, exc: Exception) -> BackendError:
        """One clear message per failure kind, never a raw client traceback."""
        import httpx2
        import openai

        where = f"the model server at {self.base_url}"
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            msg = f"No answer from {where} within {self.timeout_s:.0f} s; is it overloaded?"
        elif isinstance(exc, openai.APIConnectionError | httpx2.ConnectError):
            msg = (
                f"Cannot reach {where}: {exc.__cause__ or exc}. Start the server or fix "
                "COACH_ENDPOINT."
            )
        elif isinstance(exc, openai.APIStatusError):
            detail = exc.message if len(exc.message) < 300 else exc.message[:300] + "..."
            msg = f"{where.capitalize()} answered HTTP {exc.status_code}: {detail}"
        elif isinstance(exc, openai.APIError):  # an error event inside the stream
            msg = f"{where.capitalize()} reported an error mid-reply: {exc.message}"
        elif isinstance(exc, httpx2.HTTPError):
            msg = f"The connection to {where} broke mid-reply ({type(exc).__name__}: {exc})."
        else:  # malformed JSON in an event, or an unexpected client failure
            msg = f"{where.capitalize()} sent a reply the client cannot read: {exc}"
        return BackendError(msg)

    def stream(
        self, messages, *, max_tokens=256, temperature=0.0, schema=None, cancel=None, seed=None
    ):
        self.warm_up()
        extra: dict[str, Any] = {}
        if schema is not None:
            # Sent raw in the body so the client cannot reshape a non-OpenAI form.
            extra["response_format"] = {"type": "json_object", "schema": schema}
        options: dict[str, Any] = {"seed": seed} if seed is not None else {}
        clock = _Clock()
        pieces: list[str] = []
        finish: str | None = None
        usage = None
        stream = None
        try:
            stream = self._client.chat.completions.create(
                model=self.model_id,
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
                stream=True,
                stream_options={"include_usage": True},
                extra_body=extra or None,
                **options,
            )
            for chunk in stream:
                if cancel is not None and cancel.cancelled:
                    finish = "cancelled"
                    break
                if clock.elapsed() > self.timeout_s:
                    raise BackendError(
                        f"The model server at {self.base_url} took longer than "
                        f"{self.timeout_s:.0f} s for one reply."
                    )
                if chunk.usage is not None:  # the extra last chunk that include_usage asks for
                    usage = chunk.usage
                for choice in chunk.choices[:1]:
                    piece = choice.delta.content if choice.delta else None
                    if piece:
                        clock.piece()
                        pieces.append(piece)
                        yield piece
                    if choice.finish_reason:
                        finish = choice.finish_reason
        except BackendError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc
        finally:
            if stream is not None:
                stream.close()
        if finish is None:
            # A close-delimited body that just stops looks like a normal end to the client;
            # every server sends a finish_reason, so its absence means the reply was cut.
            raise BackendError(
                f"The model server at {self.base_url} ended the reply before it was complete "
                f"(after {len(pieces)} pieces); check the server's log."
            )
        text = "".join(pieces)
        if usage is not None:
            n_prompt, n_completion = usage.prompt_tokens, usage.completion_tokens
        else:
            # Cancelled before the usage chunk, or a server that ignores include_usage (llama.cpp
            # server 0.3.36 does): an estimate. Servers send one token per chunk; a prompt is
            # ~4 characters per token plus ~4 tokens of chat template per message.
            n_prompt = sum(len(m["content"]) // 4 + 4 for m in messages)
            n_completion = len(pieces)
        return clock.reply(text, n_prompt, n_completion, finish, self.name)


# ---------------------------------------------------------------------------------------------
# Hugging Face transformers


def extract_json(text: str, schema: dict | None = None) -> str | None:
    """The first JSON object in a model's text, re-serialised; None if there is none or it
    does not match `schema`. Repairs the usual wrappers: code fences and chatter around it.

    >>> extract_json('Sure! ```json\\n{"answer": 5}\\n``` Hope this helps.')
    '{"answer": 5}'
    >>> extract_json('{"answer": "five"}', {"properties": {"answer": {"type": "integer"}}}) is None
    True
    """
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if not isinstance(value, dict):
            continue
        if schema is not None:
            import jsonschema

            try:
                jsonschema.validate(value, schema)
            except jsonschema.ValidationError:
                return None
        return json.dumps(value, ensure_ascii=False)
    return None


def _with_schema_hint(messages: Messages, schema: dict) -> Messages:
    """Without a grammar the schema can only be asked for, in the last message."""
    hint = (
        "\n\nReply with only a JSON object that matches this JSON schema, no other text:\n"
        + json.dumps(schema, ensure_ascii=False)
    )
    *head, last = messages
    return [*head, {**last, "content": last["content"] + hint}]


class TransformersGenerator(Generator):
    """Hugging Face transformers on `cfg.hf_model_dir`, or on the packaged GGUF.

    The backend for a GPU or any Hugging Face chat model; on this CPU it is ~6x slower than
    llama.cpp. It cannot enforce a grammar: schema calls put the schema in the prompt, then
    extract and validate the JSON (`extract_json`). `Reply.text` is the repaired JSON when that
    succeeds and the raw text otherwise, so callers still check it. Streamed pieces are always
    the raw text. Cancel and timeout are checked between tokens. Never touches the network.
    """

    def __init__(self, cfg: Config, *, timeout_s: float = CALL_TIMEOUT_S):
        self.cfg = cfg
        self.timeout_s = timeout_s
        self.name = f"transformers:{cfg.hf_model_dir.name if cfg.hf_model_dir else cfg.model}"
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def _source(self) -> tuple[str, dict]:
        if self.cfg.hf_model_dir is not None:
            if not self.cfg.hf_model_dir.is_dir():
                raise SetupError(f"hf_model_dir {self.cfg.hf_model_dir} is not a directory.")
            return str(self.cfg.hf_model_dir), {}
        missing = [m for m in ("gguf", "accelerate") if importlib.util.find_spec(m) is None]
        if missing:
            raise SetupError(
                f"Running the GGUF model with transformers needs {' and '.join(missing)}, which "
                "are not installed. Run: pip install gguf accelerate (or set hf_model_dir, or "
                "use backend = 'llama_cpp')."
            )
        path = ensure_model(self.cfg.model, self.cfg.models_dir)
        return str(path.parent), {"gguf_file": path.name}

    def warm_up(self) -> None:
        if self._model is not None:
            return
        offline.enforce()
        source, extra = self._source()
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise SetupError(f"transformers is not installed. Run: {FIX}") from exc
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True, **extra)
            model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, **extra)
        except (OSError, ValueError, ImportError) as exc:
            raise SetupError(f"Could not load a model from {source}: {exc}") from exc
        if not tokenizer.chat_template:
            raise SetupError(f"The model at {source} has no chat template; use a chat model.")
        model.eval()
        self._tokenizer, self._model = tokenizer, model

    def stream(
        self, messages, *, max_tokens=256, temperature=0.0, schema=None, cancel=None, seed=None
    ):
        self.warm_up()
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        tok, model = self._tokenizer, self._model
        asked = _with_schema_hint(messages, schema) if schema is not None else messages
        with self._lock:
            clock = _Clock()
            prompt = tok.apply_chat_template(asked, tokenize=False, add_generation_prompt=True)
            # The template already holds the special tokens; adding them again would double BOS.
            inputs = tok(prompt, return_tensors="pt", add_special_tokens=False)
            inputs.pop("token_type_ids", None)  # some tokenizers add them; decoders reject them
            n_prompt = int(inputs["input_ids"].shape[1])
            stop = threading.Event()  # set when the consumer leaves: the thread must end too
            deadline = clock.start + self.timeout_s

            class _Stop(StoppingCriteria):
                def __call__(self, input_ids, scores, **kwargs):
                    halt = stop.is_set() or time.perf_counter() > deadline
                    halt = halt or (cancel is not None and cancel.cancelled)
                    return torch.full((input_ids.shape[0],), halt, device=input_ids.device)

            streamer = TextIteratorStreamer(
                tok, skip_prompt=True, skip_special_tokens=True, timeout=self.timeout_s
            )
            gen_kwargs: dict[str, Any] = {
                **inputs,
                "max_new_tokens": max_tokens,
                "streamer": streamer,
                "stopping_criteria": StoppingCriteriaList([_Stop()]),
                "pad_token_id": tok.pad_token_id
                if tok.pad_token_id is not None
                else tok.eos_token_id,
            }
            if temperature > 0:
                gen_kwargs.update(do_sample=True, temperature=temperature)
            else:
                # Greedy: unset the sampling defaults a model's generation_config may carry.
                gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            outcome: dict[str, Any] = {}

            def run() -> None:
                try:
                    if seed is not None:
                        torch.manual_seed(seed)  # global, but the lock makes calls sequential
                    with torch.inference_mode():
                        outcome["ids"] = model.generate(**gen_kwargs)
                except Exception as exc:  # reported by the consumer, not lost in the thread
                    outcome["error"] = exc
                    streamer.end()  # unblocks the consumer waiting on the queue

            thread = threading.Thread(target=run, name="coach-generate", daemon=True)
            pieces: list[str] = []
            thread.start()
            try:
                for piece in streamer:
                    if piece:
                        clock.piece()
                        pieces.append(piece)
                        yield piece
            except Exception as exc:  # queue.Empty: no token within the timeout
                raise BackendError(
                    f"The transformers model produced nothing for {self.timeout_s:.0f} s."
                ) from exc
            finally:
                stop.set()
                thread.join(timeout=self.timeout_s)
            if "error" in outcome:
                exc = outcome["error"]
                raise BackendError(f"The transformers model failed while generating: {exc}")
            if "ids" not in outcome:
                raise BackendError(
                    f"The transformers model did not finish within {self.timeout_s:.0f} s."
                )
            if cancel is None or not cancel.cancelled:
                if clock.elapsed() > self.timeout_s:
                    raise BackendError(
                        f"The transformers model took longer than {self.timeout_s:.0f} s."
                    )
            new = outcome["ids"][0, n_prompt:].tolist()
            eos = model.generation_config.eos_token_id
            eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
            ended = bool(new) and new[-1] in eos_ids
            n_completion = len(new) - ended  # like llama.cpp, the end-of-turn token is free
            if cancel is not None and cancel.cancelled:
                finish = "cancelled"
            elif ended or len(new) < max_tokens:
                finish = "stop"
            else:
                finish = "length"
            text = "".join(pieces)
            if schema is not None:
                text = extract_json(text, schema) or text
            return clock.reply(text, n_prompt, n_completion, finish, self.name)


# ---------------------------------------------------------------------------------------------
# Deterministic fake for tests


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


# ---------------------------------------------------------------------------------------------
# The factory

_BACKENDS: dict[str, Callable[[Config], Generator]] = {
    "llama_cpp": LlamaCppGenerator,
    "openai": OpenAIServerGenerator,
    "transformers": TransformersGenerator,
}


@lru_cache(maxsize=4)
def _generator_for(cfg: Config) -> Generator:
    try:
        backend = _BACKENDS[cfg.backend]
    except KeyError:
        raise SetupError(
            f"Unknown backend {cfg.backend!r}; choose one of {', '.join(_BACKENDS)}."
        ) from None
    return backend(cfg)


def get_generator(cfg: Config) -> Generator:
    """The one generator per configuration in this process (models load once)."""
    return _generator_for(cfg)


class UsesGenerator:
    """A mixin for classes given a generator (tests: a fake) or else using the configured one,
    looked up on first use so that constructing them stays cheap."""

    cfg: Config
    _generator: Generator | None = None

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            self._generator = get_generator(self.cfg)
        return self._generator
