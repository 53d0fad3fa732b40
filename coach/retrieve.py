"""Hybrid retrieval: BM25 and dense candidates, fused by reciprocal rank fusion, optionally
reranked, then collapsed to one hit per handbook section, with a scope decision.

`score` in a hit is the final stage's score: the reranker's when reranking is on, otherwise
the fused RRF score. Leaves out: building the index (index.py), training the reranker.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from coach import scope
from coach.config import Config
from coach.embed import Embedder, default_embedder
from coach.index import Index, ensure_index
from coach.lexical import tokenize
from coach.parse import load_handbook


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


@dataclass(frozen=True)
class Hit:
    id: str  # the section: "Q17" or "P3"
    chunk_id: str
    title: str
    score: float
    rank: int

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "chunk_id": self.chunk_id,
            "title": self.title,
            "score": round(float(self.score), 6),
            "rank": self.rank,
        }


@dataclass(frozen=True)
class SearchResult:
    query: str
    in_scope: bool
    scope_score: float
    hits: tuple[Hit, ...]
    timing: dict = field(default_factory=dict)
    chunk_texts: dict = field(default_factory=dict)  # chunk_id -> passage, for prompts

    def to_json(self) -> dict:
        return {
            "query": self.query,
            "in_scope": self.in_scope,
            "hits": [h.to_json() for h in self.hits],
        }


def top_k(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k largest scores, best first, ties broken by index.

    >>> top_k(np.array([0.1, 0.9, 0.5, 0.9]), 3)
    [1, 3, 2]
    """
    order = np.lexsort((np.arange(len(scores)), -scores))
    return [int(i) for i in order[:k]]


class Searcher:
    """Cheap to construct; loads the index (and models) on warm_up or first search."""

    def __init__(
        self,
        cfg: Config,
        embedder: Embedder | None = None,
        reranker=None,
        use_reranker: bool | None = None,
        scope_threshold: float | None = None,
    ):
        self.cfg = cfg
        self.embedder = embedder
        self.reranker = reranker
        self.use_reranker = use_reranker
        self.scope_threshold = scope.THRESHOLD if scope_threshold is None else scope_threshold
        self._index: Index | None = None
        self._vocabulary: set[str] = set()

    def warm_up(self) -> Index:
        if self._index is None:
            self.embedder = self.embedder or default_embedder()
            self._index = ensure_index(self.cfg, embedder=self.embedder).index
            self._vocabulary = {t for c in self._index.chunks for t in tokenize(c.text)}
            if self.reranker is None and self.use_reranker is not False:
                from coach import rerank

                self.reranker = rerank.load_default(self.cfg, self._index)
        return self._index

    @property
    def index(self) -> Index:
        return self.warm_up()

    def candidates(self, query: str) -> tuple[dict[str, list[str]], dict, float]:
        """Per-retriever chunk rankings, stage timings, and the scope score."""
        idx = self.warm_up()
        t0 = time.perf_counter()
        qv = self.embedder.embed([query])
        t1 = time.perf_counter()
        # Several dense rows can point at one chunk (doc2query): over-fetch, keep each chunk's
        # best row.
        sims, rows = idx.faiss_index.search(qv, min(self.cfg.k_dense * 4, len(idx.row_chunk)))
        dense: list[int] = []
        for r in rows[0]:
            if r >= 0 and idx.row_chunk[r] not in dense:
                dense.append(idx.row_chunk[r])
        dense = dense[: self.cfg.k_dense]
        t2 = time.perf_counter()
        bm = idx.bm25.scores(query)
        terms = tokenize(query)
        bm_top = [i for i in top_k(bm, self.cfg.k_bm25) if bm[i] > 0]
        t3 = time.perf_counter()
        rankings = {
            "dense": [idx.chunks[i].id for i in dense],
            "bm25": [idx.chunks[i].id for i in bm_top],
        }
        timing = {"embed_s": t1 - t0, "faiss_s": t2 - t1, "bm25_s": t3 - t2}
        chunk_cos = float((idx.vectors[: len(idx.chunks)] @ qv[0]).max())
        score = scope.scope_score(
            chunk_cos, scope.coverage(terms, self._vocabulary), float(bm.max(initial=0.0))
        )
        return rankings, timing, score

    def search(self, query: str, k: int | None = None, mode: str = "auto") -> SearchResult:
        """mode: "auto" (hybrid, reranked if a reranker is configured), "hybrid", "bm25",
        "dense" or "rerank". The scope score is the same whatever the mode."""
        idx = self.warm_up()
        k = k or self.cfg.k_search
        rankings, timing, scope_score = self.candidates(query)
        t0 = time.perf_counter()
        if mode in ("bm25", "dense"):
            ranked = rankings[mode]
            chunk_scores = {cid: 1.0 / (r + 1) for r, cid in enumerate(ranked)}
        else:
            chunk_scores = rrf(rankings, k=self.cfg.rrf_k)
        timing["fusion_s"] = time.perf_counter() - t0
        use_rerank = mode == "rerank" or (mode == "auto" and self.reranker is not None)
        if use_rerank and self.reranker is not None:
            t0 = time.perf_counter()
            chunk_scores = self._rerank(query, chunk_scores)
            timing["rerank_s"] = time.perf_counter() - t0
        hits = collapse(chunk_scores, idx, k)
        decision = scope.decide(scope_score, threshold=self.scope_threshold)
        texts = {h.chunk_id: idx.by_id[h.chunk_id].text for h in hits}
        return SearchResult(query, decision.in_scope, decision.score, tuple(hits), timing, texts)

    def _rerank(self, query: str, fused: dict[str, float]) -> dict[str, float]:
        depth = self.cfg.rerank_depth
        head = sorted(fused, key=lambda c: (-fused[c], c))[:depth]
        idx = self.index
        scores = self.reranker.score(query, [idx.by_id[c].text for c in head])
        return {cid: float(s) for cid, s in zip(head, scores, strict=True)}


def collapse(chunk_scores: Mapping[str, float], idx: Index, k: int) -> list[Hit]:
    """One hit per handbook section (its best chunk), best first."""
    by_id = idx.by_id
    best: dict[str, tuple[float, str]] = {}
    for cid, s in chunk_scores.items():
        qid = by_id[cid].question_id
        if qid not in best or s > best[qid][0]:
            best[qid] = (s, cid)
    order = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))[:k]
    titles = _titles()
    return [
        Hit(qid, cid, titles.get(qid, by_id[cid].title), s, rank)
        for rank, (qid, (s, cid)) in enumerate(order, start=1)
    ]


@lru_cache(maxsize=1)
def _titles() -> dict[str, str]:
    book = load_handbook()
    return {**{q.id: q.title for q in book.questions}, **{p.id: p.title for p in book.parts}}


@lru_cache(maxsize=4)
def get_searcher(cfg: Config) -> Searcher:
    return Searcher(cfg)
