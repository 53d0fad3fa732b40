"""Hugging Face transformers as a backend: for a GPU or any Hugging Face chat model."""

from __future__ import annotations

import importlib.util
import json
import re
import threading
import time
from typing import Any

from coach import offline
from coach.config import Config
from coach.errors import BackendError, SetupError
from coach.llm.generator import CALL_TIMEOUT_S, CallClock, Generator, Messages
from coach.llm.modelfiles import FIX, ensure_model


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
            clock = CallClock()
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
