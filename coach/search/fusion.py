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
    top = max(bm25.values(), default=0.0)
    keys = sorted(set(bm25) | set(dense))
    norm = {k: (bm25.get(k, 0.0) / top if top > 0 else 0.0) for k in keys}
    return {
        k: round(bm25_weight * norm[k] + (1 - bm25_weight) * dense.get(k, 0.0), 12) for k in keys
    }


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
