"""Rank fusion: pure functions that combine per-retriever scores or rankings.

Leaves out: where the scores come from (searcher.py) and reranking (rerank.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def linear_fusion(
    bm25: Mapping[str, float], dense: Mapping[str, float], bm25_weight: float
) -> dict[str, float]:
    """w * bm25 / max(bm25) + (1 - w) * dense, over the union of keys (missing counts 0).

    >>> linear_fusion({"a": 10.0, "b": 5.0}, {"a": 0.2, "b": 0.6}, 0.5)
    {'a': 0.6, 'b': 0.55}
    >>> linear_fusion({}, {"a": 0.5}, 0.3)
    {'a': 0.35}
    """
    keys = sorted(set(bm25) | set(dense))
    fused = linear_fusion_array(
        np.array([bm25.get(k, 0.0) for k in keys], dtype=np.float64),
        np.array([dense.get(k, 0.0) for k in keys], dtype=np.float64),
        bm25_weight,
    )
    return {k: round(v, 12) for k, v in zip(keys, fused.tolist(), strict=True)}


def linear_fusion_array(bm25: np.ndarray, dense: np.ndarray, bm25_weight: float) -> np.ndarray:
    """`linear_fusion` over aligned arrays (one entry per key, unrounded): the same formula,
    vectorised for corpora too large for dicts (collections, coach/search/collections.py).

    >>> linear_fusion_array(np.array([10.0, 5.0]), np.array([0.2, 0.6]), 0.5).round(12).tolist()
    [0.6, 0.55]
    """
    top = float(bm25.max()) if len(bm25) else 0.0
    norm = bm25 / top if top > 0 else np.zeros_like(bm25, dtype=np.float64)
    return bm25_weight * norm + (1 - bm25_weight) * dense


def rrf(
    rankings: Mapping[str, Sequence[str]], k: int = 60, weights: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Reciprocal rank fusion: score(d) = sum over rankings of w / (k + rank(d)), rank from 1.

    k (60 in Cormack et al. 2009) flattens the head: rank 1 is worth only ~1.6% more than
    rank 2, so one retriever's top hit cannot outvote agreement between retrievers.

    >>> s = rrf({"bm25": ["a", "b"], "dense": ["b", "c"]}, k=1)
    >>> sorted(s.items())
    [('a', 0.5), ('b', 0.8333333333333333), ('c', 0.3333333333333333)]
    >>> rrf({"x": []})
    {}
    """
    weights = weights or {}
    scores: dict[str, float] = {}
    for name, ranking in rankings.items():
        w = weights.get(name, 1.0)
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + w / (k + rank)
    return scores


def top_k(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k largest scores, best first, ties broken by index.

    >>> top_k(np.array([0.1, 0.9, 0.5, 0.9]), 3)
    [1, 3, 2]
    """
    order = np.lexsort((np.arange(len(scores)), -scores))
    return [int(i) for i in order[:k]]
