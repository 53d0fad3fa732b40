"""Any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama) as a backend."""

from __future__ import annotations

import os
from typing import Any

from coach.config import Config
from coach.errors import BackendError, SetupError
from coach.llm.generator import CALL_TIMEOUT_S, CONNECT_TIMEOUT_S, CallClock, Generator
from coach.llm.modelfiles import FIX


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
        clock = CallClock()
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
