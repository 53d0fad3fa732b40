"""Cross-encoder reranking of the fused candidates.

The reranker is either a configured Hugging Face cross-encoder directory (`reranker_path`) or the
one `coach index --train-reranker` trains on the synthetic questions
(coach/search/training/reranker.py), cached next to the index under a key of everything it was
trained from. Whether search uses it by default is decided on the golden dev split and recorded in
`corpus/retrieval_defaults.json`: the reranker must earn its place (DESIGN.md, "The reranker").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from coach.config import REPO_ROOT, Config
from coach.errors import SetupError
from coach.search.synthetic import SYNTHETIC_PATH

DEFAULTS_PATH = REPO_ROOT / "corpus" / "retrieval_defaults.json"
TRAIN_VERSION = "1"


def defaults() -> dict:
    """The dev-split decisions: {"use_reranker": bool, "train": {...}, "fusion": {...}, ...}."""
    try:
        return json.loads(DEFAULTS_PATH.read_text())
    except (OSError, ValueError):
        return {"use_reranker": False, "train": {}}


class CrossEncoderReranker:
    """Scores (query, passage) pairs with a sentence-transformers CrossEncoder."""

    def __init__(self, path: Path, max_length: int, name: str | None = None):
        self.path = Path(path)
        self.max_length = max_length
        self.name = name or f"cross-encoder:{self.path.name}"
        self._model = None
        report = self.path / "train_report.json"
        # Set for rerankers trained by coach/search/training/reranker.py; None for a foreign
        # directory.
        self.train_seconds = json.loads(report.read_text())["seconds"] if report.exists() else None

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
                "Run: coach index --rebuild (or fix reranker_path in the config)"
            ) from exc

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        self.warm_up()
        if not passages:
            return []
        scores = self._model.predict([(query, p) for p in passages], batch_size=16)
        return [float(s) for s in scores]


def _train_key(cfg: Config, index_manifest: dict, params: dict) -> str:
    h = hashlib.sha256()
    h.update(TRAIN_VERSION.encode())
    h.update(json.dumps(params, sort_keys=True).encode())
    h.update(json.dumps(index_manifest.get("files", {}), sort_keys=True).encode())
    if SYNTHETIC_PATH.exists():
        h.update(SYNTHETIC_PATH.read_bytes())
    return h.hexdigest()[:12]


def trained_dir(cfg: Config, index_manifest: dict) -> Path:
    params = defaults().get("train", {})
    return cfg.index_dir / f"reranker-{_train_key(cfg, index_manifest, params)}"


def load_default(cfg: Config, index) -> CrossEncoderReranker | None:
    """The configured reranker, else the trained one if the dev decision keeps it, else None."""
    if cfg.reranker_path is None and not defaults().get("use_reranker"):
        return None
    return available(cfg, index)


def available(cfg: Config, index) -> CrossEncoderReranker | None:
    """The configured or the trained reranker, whatever the default (evals compare them)."""
    if cfg.reranker_path is not None:
        return CrossEncoderReranker(cfg.reranker_path, cfg.rerank_max_length)
    path = trained_dir(cfg, index.manifest)
    if not (path / "train_report.json").exists():
        return None
    return CrossEncoderReranker(path, cfg.rerank_max_length, name=f"trained:{path.name}")
