"""Cross-encoder reranking of the fused candidates.

The reranker is either a configured Hugging Face cross-encoder directory (`reranker_path`) or the
coach's own (coach/search/minilm_reranker.py, shipped in corpus/reranker/, retrained by `coach index
--train-reranker` when its labels change). Its score joins the fused score by interpolation
(searcher.py), it never replaces it. Whether search uses it by default is decided on the golden dev
split and recorded in `corpus/retrieval_defaults.json`: the reranker must earn its place (DESIGN.md,
"The reranker").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from coach.config import REPO_ROOT, Config
from coach.errors import SetupError, read_setup_json
from coach.search.minilm_reranker import FIX, RERANKER_DIR, MiniLMReranker, describe

DEFAULTS_PATH = REPO_ROOT / "corpus" / "retrieval_defaults.json"


DEFAULTS_FIX = (
    "restore it (git checkout -- corpus/retrieval_defaults.json); it is written by hand from "
    "coach eval --suite retrieval --split dev"
)


def defaults(path: Path | None = None) -> dict:
    """The dev-split decisions: {"use_reranker": bool, "fusion": {...}, "rerank": {...}}.

    A missing or broken file is a SetupError, never built-in defaults: search would silently
    run with settings nobody chose on the dev split.
    """
    path = DEFAULTS_PATH if path is None else path
    return read_setup_json(path, "the retrieval defaults", DEFAULTS_FIX, check=check_defaults)


def check_defaults(data: object) -> None:
    """Raise KeyError/TypeError/ValueError unless every setting search reads is there.

    >>> check_defaults({"use_reranker": False, "rerank": {"weight": 0.5, "depth": 5},
    ...     "fusion": {"method": "linear", "bm25_weight": 0.3, "correct_bm25": True}})
    >>> check_defaults({"use_reranker": "no", "fusion": {}})
    Traceback (most recent call last):
    ...
    TypeError: use_reranker must be true or false
    """
    if not isinstance(data, dict):
        raise TypeError("expected a JSON object")
    if not isinstance(data["use_reranker"], bool):
        raise TypeError("use_reranker must be true or false")
    fusion = data["fusion"]
    if not isinstance(fusion, dict):
        raise TypeError('"fusion" must be an object')
    if fusion["method"] not in ("linear", "rrf"):
        raise ValueError('fusion.method must be "linear" or "rrf"')
    weight = fusion["bm25_weight"]
    if not isinstance(weight, int | float) or isinstance(weight, bool) or not 0 <= weight <= 1:
        raise ValueError("fusion.bm25_weight must be a number in [0, 1]")
    if not isinstance(fusion["correct_bm25"], bool):
        raise TypeError("fusion.correct_bm25 must be true or false")
    found = data["rerank"]
    depth, weight = found["depth"], found["weight"]
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError("rerank.depth must be a positive integer")
    if not isinstance(weight, int | float) or isinstance(weight, bool) or not 0 <= weight <= 1:
        raise ValueError("rerank.weight must be a number in [0, 1]")


def settings(data: dict | None = None) -> dict:
    """{"weight", "depth", ...}: the defaults' "rerank" block, chosen on the golden dev split
    (checked with the rest of the file by `defaults`)."""
    return (defaults() if data is None else data)["rerank"]


def describe_in_use(cfg: Config) -> str:
    """Which reranker search would load, checked without loading it (`coach doctor`)."""
    if cfg.reranker_path is not None:
        if not Path(cfg.reranker_path).is_dir():
            raise SetupError(f"reranker_path {cfg.reranker_path} is not a directory. Fix: {FIX}")
        return f"{cfg.reranker_path} (a configured cross-encoder)"
    return describe(RERANKER_DIR)


class CrossEncoderReranker:
    """Scores (query, passage) pairs with a foreign sentence-transformers CrossEncoder directory
    (`reranker_path`: e.g. ms-marco-MiniLM-L-6-v2 fetched elsewhere)."""

    def __init__(self, path: Path, max_length: int, name: str | None = None):
        self.path = Path(path)
        self.max_length = max_length
        self.name = name or f"cross-encoder:{self.path.name}"
        self._model = None

    def warm_up(self) -> None:
        if self._model is not None:
            return
        try:
            from sentence_transformers import CrossEncoder

            self._model = CrossEncoder(
                str(self.path), max_length=self.max_length, device="cpu", local_files_only=True
            )
        except Exception as exc:  # a broken or foreign directory is a setup problem
            raise SetupError(
                f"Cannot load the reranker from {self.path}: {exc}. "
                "Fix reranker_path in the config, or remove it to use the coach's own reranker"
            ) from exc

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """P(relevant) per passage: the CrossEncoder's logit through a sigmoid."""
        import math

        self.warm_up()
        if not passages:
            return []
        scores = self._model.predict([(query, p) for p in passages], batch_size=16)
        return [1 / (1 + math.exp(-float(s))) for s in scores]


def load_default(cfg: Config, index=None):
    """The configured reranker, else the coach's own when the dev decision keeps it, else None.
    A reranker the defaults ask for but that is missing is a SetupError, never silently off."""
    if cfg.reranker_path is None and not defaults().get("use_reranker"):
        return None
    found = available(cfg)
    if found is None:
        raise SetupError(f"The reranker the retrieval defaults ask for is missing. Fix: {FIX}")
    return found


def available(cfg: Config, index=None):
    """The configured or the coach's own reranker, whatever the default (evals compare them)."""
    if cfg.reranker_path is not None:
        return CrossEncoderReranker(cfg.reranker_path, cfg.rerank_max_length)
    if not (RERANKER_DIR / "model.json").exists():
        return None
    return MiniLMReranker(RERANKER_DIR)
