"""One frozen configuration for the whole coach.

Read from defaults, then an optional TOML file (`$COACH_HOME/config.toml`, or the path in
`COACH_CONFIG`), then a few environment variables for paths and the backend endpoint. Nothing
else reads the environment. Leaves out: per-command flags (the CLI passes those explicitly).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from coach.errors import SetupError

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO_ROOT / "corpus"

MODEL_CHOICES = ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b")
BACKEND_CHOICES = ("llama_cpp", "transformers", "openai")
ANSWER_MODES = ("quote", "generate")


def _default_home() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "coach"


@dataclass(frozen=True)
class Config:
    # Where state that is not derived from the repo lives: models, progress db, logs, reports.
    home: Path = field(default_factory=_default_home)
    # The handbook and the data derived from it (rubrics, overlay, synthetic questions).
    corpus_dir: Path = REPO_ROOT / "corpus"
    # Derived search index and trained reranker; rebuilt from corpus_dir when stale.
    index_dir: Path = REPO_ROOT / "index"
    # 1.5B is the default: the 0.5B model is fine for extractive answers but too weak to grade.
    model: str = "qwen2.5-coder-1.5b"
    # In-process llama.cpp is the fastest CPU runtime here; "openai" targets a server.
    backend: str = "llama_cpp"
    # Base URL of an OpenAI-compatible server (vLLM, llama.cpp server, Ollama), for "openai".
    endpoint: str | None = None
    # Model id to request from that server; None asks its /v1/models for the first one.
    endpoint_model: str | None = None
    # A Hugging Face model directory for the "transformers" backend (None: the GGUF file).
    hf_model_dir: Path | None = None
    # Both cores: llama.cpp decode speed scales with physical cores and this machine has two.
    threads: int = max(1, os.cpu_count() or 1)
    # Big enough for system prompt + 3 sources + bounded history + answer.
    n_ctx: int = 4096
    # Interview-style brevity; also bounds the worst-case latency of one answer.
    max_answer_tokens: int = 320
    # Candidates from each retriever before fusion: cheap, and recall@20 is near 1 here.
    k_bm25: int = 20
    k_dense: int = 20
    # The 60 of the original RRF paper: damps the advantage of rank 1 over rank 2.
    rrf_k: int = 60
    # Hits shown by `coach search` unless --k is given.
    k_search: int = 5
    # Sources put into an answer prompt: few and tight, since prompt processing dominates.
    k_sources: int = 3
    # "quote": answers are built from the handbook's own statements (coach/ask/compose.py),
    # because the 1.5B model swaps roles and inverts comparisons when it paraphrases;
    # "generate": the model writes the answer and every sentence must pass the alignment check
    # (coach/ask/align.py) before it is shown, for a stronger model behind `endpoint`.
    answer_mode: str = "quote"
    # Index each chunk's LLM-written questions with it (corpus/synthetic_questions.jsonl).
    doc2query: bool = True
    # How many sections the reranker reads and its weight are dev-split decisions, kept in
    # corpus/retrieval_defaults.json ("rerank"), not settings.
    rerank_max_length: int = 256
    # A Hugging Face cross-encoder directory to use instead of the trained one.
    reranker_path: Path | None = None
    # Bound on the question an Ask turn accepts; longer pastes get a clear message.
    max_question_chars: int = 2000
    # Bound on an interview answer (a long answer, but not a pasted document).
    max_answer_chars: int = 20000

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def progress_db(self) -> Path:
        return self.home / "progress.sqlite3"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    def replace(self, **changes) -> Config:
        return _validated(dataclasses.replace(self, **changes))


_PATH_FIELDS = {"home", "corpus_dir", "index_dir", "hf_model_dir", "reranker_path"}


def _validated(cfg: Config) -> Config:
    if cfg.model not in MODEL_CHOICES:
        raise SetupError(f"Unknown model {cfg.model!r}; choose one of {', '.join(MODEL_CHOICES)}.")
    if cfg.backend not in BACKEND_CHOICES:
        raise SetupError(
            f"Unknown backend {cfg.backend!r}; choose one of {', '.join(BACKEND_CHOICES)}."
        )
    if cfg.answer_mode not in ANSWER_MODES:
        raise SetupError(
            f"Unknown answer_mode {cfg.answer_mode!r}; choose one of {', '.join(ANSWER_MODES)}."
        )
    if cfg.backend == "openai" and not cfg.endpoint:
        raise SetupError("The openai backend needs an endpoint: set COACH_ENDPOINT=http://...")
    return cfg


def _from_file(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SetupError(f"Cannot read the config file {path}: {exc}. Fix or delete it.") from exc
    known = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SetupError(f"Unknown setting(s) in {path}: {', '.join(unknown)}.")
    return {k: Path(v).expanduser() if k in _PATH_FIELDS else v for k, v in data.items()}


def load_config(**overrides) -> Config:
    """Defaults < config file < environment (paths, endpoint) < explicit overrides."""
    env = os.environ
    values: dict = {}
    home = Path(env["COACH_HOME"]).expanduser() if env.get("COACH_HOME") else _default_home()
    values["home"] = home
    cfg_file = Path(env["COACH_CONFIG"]) if env.get("COACH_CONFIG") else home / "config.toml"
    if cfg_file.is_file():
        values.update(_from_file(cfg_file))
        values["home"] = home if env.get("COACH_HOME") else values.get("home", home)
    if env.get("COACH_INDEX_DIR"):
        values["index_dir"] = Path(env["COACH_INDEX_DIR"]).expanduser()
    if env.get("COACH_ENDPOINT"):
        values["endpoint"] = env["COACH_ENDPOINT"]
        values.setdefault("backend", "openai")
    if env.get("COACH_MODEL"):
        values["model"] = env["COACH_MODEL"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return _validated(Config(**values))
