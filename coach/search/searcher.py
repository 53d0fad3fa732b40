"""Hybrid retrieval: BM25 and dense scores fused per handbook section, optionally reranked,
one hit per section, with a scope decision.

Fusion (corpus/retrieval_defaults.json, "fusion"): a section's score is
`w * bm25 / max_bm25 + (1 - w) * cosine`, each the best over the section's chunks (the dense
cosine also over its doc2query rows), w = 0.3. Score fusion beat reciprocal rank fusion on the
dev split (hit@1 0.924 against 0.855): RRF throws away how far apart the scores are, and
ranking chunks lets one section's several chunks crowd the others out. BM25 sees the query
after typo correction (coach/search/spell.py); the dense query stays as typed, since MiniLM's
word pieces already absorb typos and a wrong correction would only hurt it.

`score` in a hit is the final stage's score: the reranker's when reranking is on, otherwise
the fused score. Leaves out: building the index (index.py), training the reranker.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from coach.config import Config
from coach.errors import SetupError
from coach.handbook import load_handbook
from coach.search import rerank, scope, spell
from coach.search.embed import Embedder, default_embedder
from coach.search.fusion import linear_fusion, rrf, top_k
from coach.search.index import Index, ensure_index
from coach.search.lexical import STOPWORDS, tokenize


@lru_cache(maxsize=1)
def fusion_defaults() -> dict:
    """{"method": "linear" | "rrf", "bm25_weight": float, "correct_bm25": bool, ...}, from
    corpus/retrieval_defaults.json (a SetupError when it is missing or broken)."""
    return dict(rerank.defaults()["fusion"])


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
    query_vector: np.ndarray | None = None  # the query's embedding, for later stages to reuse
    answerability: float | None = None  # the reranker's best probability (None: not reranked)

    def to_json(self) -> dict:
        return {
            "query": self.query,
            "in_scope": self.in_scope,
            "hits": [h.to_json() for h in self.hits],
        }


@dataclass(frozen=True)
class Query:
    """One query as every stage needs it, prepared once: spelling corrected once, embedded
    once, then carried through retrieval, fusion, reranking and the scope decision."""

    text: str  # as typed: the dense side and the reranker read this
    corrected: str  # after typo correction: BM25 and the coverage signal read this
    corrections: dict  # word -> its correction
    words: tuple[str, ...]  # the words of `text`, for the rare-name signal
    vector: np.ndarray  # the embedding of `text`, L2-normalised


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
        # None: the fitted threshold, read from corpus/scope_model.json on first search.
        self.scope_threshold = scope_threshold
        self.fusion: dict = {}  # corpus/retrieval_defaults.json's "fusion", read on warm_up
        self.rerank_config: dict = {}  # ...and its "rerank" {"weight", "depth"}, when reranking
        self._index: Index | None = None
        self._vocabulary: set[str] = set()
        self.speller: spell.Speller | None = None

    def warm_up(self) -> Index:
        if self._index is None:
            self.fusion = self.fusion or fusion_defaults()
            self.embedder = self.embedder or default_embedder()
            idx = ensure_index(self.cfg, embedder=self.embedder).index
            self._vocabulary = {t for c in idx.chunks for t in tokenize(c.text)}
            self.speller = spell.from_texts(
                [c.text for c in idx.chunks],
                idx.bm25.corpus_tokens,
                STOPWORDS | spell.english_words(),
            )
            self._index = idx
            if self.reranker is None and self.use_reranker is not False:
                self.reranker = rerank.load_default(self.cfg, self._index)
        return self._index

    @property
    def index(self) -> Index:
        return self.warm_up()

    def prepare(self, text: str, vector: np.ndarray | None = None) -> Query:
        """Correct the spelling and embed, once per query (`vector` when already embedded)."""
        self.warm_up()
        fixes = self.speller.corrections(text) if self.speller else {}
        corrected = spell.apply_corrections(text, fixes)
        if vector is None:
            vector = self.embedder.embed([text])[0]
        return Query(text, corrected, fixes, tuple(spell.words(text)), vector)

    def signals(self, query: Query) -> dict:
        """Everything search needs from one query: per-chunk dense and BM25 scores, rankings,
        timings, the scope features and score."""
        idx = self.warm_up()
        n = len(idx.chunks)
        t1 = time.perf_counter()
        sims = self.row_similarities(query)
        # Several dense rows can point at one chunk (doc2query): keep each chunk's best row.
        dense = np.full(n, -1.0)
        np.maximum.at(dense, np.asarray(idx.row_chunk, dtype=np.int64), sims)
        dense_top = top_k(dense, self.cfg.k_dense)
        t2 = time.perf_counter()
        bm_query = query.corrected if self.fusion.get("correct_bm25") else query.text
        bm = idx.bm25.scores(bm_query)
        bm_top = [i for i in top_k(bm, self.cfg.k_bm25) if bm[i] > 0]
        t3 = time.perf_counter()
        feats = self.scope_features(query, sims)
        score = scope.scope_score(feats)
        timing = {
            "faiss_s": t2 - t1,
            "bm25_s": t3 - t2,
            "scope_s": time.perf_counter() - t3,
        }
        return {
            "rankings": {
                "dense": [idx.chunks[i].id for i in dense_top],
                "bm25": [idx.chunks[i].id for i in bm_top],
            },
            "dense": dense,
            "bm25": bm,
            "corrections": query.corrections,
            "timing": timing,
            "scope_features": feats,
            "scope_score": score,
        }

    def row_similarities(self, query: Query) -> np.ndarray:
        """The query's cosine to every dense row (chunks, then doc2query rows), by FAISS:
        fusion and the scope decision need each section's best cosine, not only the top few."""
        idx = self.warm_up()
        qv = np.asarray(query.vector, dtype=np.float32).reshape(1, -1)
        found, rows = idx.faiss_index.search(qv, idx.faiss_index.ntotal)
        sims = np.empty(idx.faiss_index.ntotal, dtype=np.float32)
        sims[rows[0]] = found[0]
        return sims

    def scope_features(
        self,
        query: Query,
        sims: np.ndarray,
        skip_row: int | None = None,
        skip_negative: int | None = None,
    ) -> dict[str, float]:
        """The scope signals (coach/search/scope.py) from the query and its cosine to every
        dense row. skip_row / skip_negative leave one synthetic row / negative question out,
        so training questions never meet themselves."""
        idx = self.warm_up()
        n = len(idx.chunks)
        syn = sims[n:]
        if skip_row is not None:
            syn = np.delete(syn, skip_row - n)
        negs = idx.negative_vectors
        neg = negs @ query.vector if negs is not None and len(negs) else np.zeros(0)
        if skip_negative is not None:
            neg = np.delete(neg, skip_negative)
        return {
            "chunk_cos": float(sims[:n].max()),
            "syn_cos": float(syn.max()) if len(syn) else float(sims[:n].max()),
            "neg_cos": float(neg.max()) if len(neg) else 0.0,
            # After typo correction: "sentance prediciton" is covered, "GGUF" is not.
            "coverage": scope.coverage(tokenize(query.corrected), self._vocabulary),
            "rare": scope.rare_share(query.words, self._is_rare),
        }

    def _is_rare(self, word: str) -> bool:
        """Unknown to the handbook, to English and to the speller: a name like "GGUF"."""
        low = word.lower()
        if low in self._vocabulary or self.speller is None or low in self.speller.known:
            return False
        return spell.looks_like_a_name(word) or self.speller.suggest(low) is None

    def search(self, query: str, k: int | None = None, mode: str = "auto") -> SearchResult:
        """mode: "auto" (hybrid, reranked if a reranker is configured), "hybrid", "bm25",
        "dense" or "rerank". The scope score is the same whatever the mode."""
        idx = self.warm_up()
        k = k or self.cfg.k_search
        t0 = time.perf_counter()
        prepared = self.prepare(query)
        embed_s = time.perf_counter() - t0
        sig = self.signals(prepared)
        rankings, timing = sig["rankings"], {"embed_s": embed_s, **sig["timing"]}
        t0 = time.perf_counter()
        fused = self._fused(sig)
        chunk_scores = fused
        if mode in ("bm25", "dense"):
            chunk_scores = {cid: 1.0 / (r + 1) for r, cid in enumerate(rankings[mode])}
        timing["fusion_s"] = time.perf_counter() - t0
        use_rerank = mode == "rerank" or (mode == "auto" and self.reranker is not None)
        answerability = None
        if use_rerank and self.reranker is None:  # asked for by name: never quietly hybrid
            raise SetupError(f"No reranker is available for mode=rerank. Fix: {rerank.FIX}")
        if self.reranker is not None and (use_rerank or scope.uses_answerability()):
            # The reranker reads the fused top sections in every mode and its best probability
            # joins the scope decision, so a query is in or out of scope whatever ranks it.
            t0 = time.perf_counter()
            reranked, answerability = self._rerank(prepared, fused)
            chunk_scores = reranked if use_rerank else chunk_scores
            timing["rerank_s"] = time.perf_counter() - t0
        hits = collapse(chunk_scores, idx, k)
        decision = scope.decide(
            sig["scope_score"], threshold=self.scope_threshold, answerability=answerability
        )
        texts = {h.chunk_id: idx.by_id[h.chunk_id].text for h in hits}
        return SearchResult(
            query,
            decision.in_scope,
            decision.score,
            tuple(hits),
            timing,
            texts,
            prepared.vector,
            answerability,
        )

    def answerability(self, text: str) -> float:
        """The reranker's best probability over the query's fused top sections: how answerable
        the query is here (the scope model's training reads it for its questions)."""
        prepared = self.prepare(text)
        return self._rerank(prepared, self._fused(self.signals(prepared)))[1]

    def _fused(self, sig: dict) -> dict[str, float]:
        if self.fusion["method"] == "rrf":
            return rrf(sig["rankings"], k=self.cfg.rrf_k)
        return self._linear(sig)

    def _linear(self, sig: dict) -> dict[str, float]:
        """Section-level score fusion, given to each section's best chunk.

        A section's score combines its best BM25 and its best cosine, which may come from
        different chunks; the chunk that carries the hit is the section's best by the same
        formula at chunk level. Other chunks keep their (lower) chunk-level score, so a
        reranker still sees them as candidates.
        """
        idx = self.index
        w = float(self.fusion["bm25_weight"])
        ids = [c.id for c in idx.chunks]
        bm, dense = sig["bm25"], sig["dense"]
        chunk = linear_fusion(
            dict(zip(ids, bm.tolist(), strict=True)), dict(zip(ids, dense.tolist(), strict=True)), w
        )
        sec_bm: dict[str, float] = {}
        sec_dense: dict[str, float] = {}
        best: dict[str, str] = {}
        for c, b, d in zip(idx.chunks, bm.tolist(), dense.tolist(), strict=True):
            q = c.question_id
            sec_bm[q] = max(sec_bm.get(q, 0.0), b)
            sec_dense[q] = max(sec_dense.get(q, -1.0), d)
            if q not in best or chunk[c.id] > chunk[best[q]]:
                best[q] = c.id
        section = linear_fusion(sec_bm, sec_dense, w)
        for q, cid in best.items():
            chunk[cid] = max(chunk[cid], section[q])
        return chunk

    def _rerank(self, query: Query, fused: dict[str, float]) -> tuple[dict[str, float], float]:
        """The reranker reads the top `depth` sections' best chunks; its probability joins the
        fused score by interpolation (`interpolate`). Returns the new chunk scores and the best
        reranker probability (how answerable the query is here)."""
        self.rerank_config = self.rerank_config or rerank.settings()
        settings = self.rerank_config
        by_id = self.index.by_id
        best: dict[str, str] = {}
        for cid in sorted(fused, key=lambda c: (-fused[c], c)):
            best.setdefault(by_id[cid].question_id, cid)
        head = list(best.values())[: settings["depth"]]
        # The corrected query, as BM25 reads it: the reranker learnt from clean questions.
        probs = self.reranker.score(query.corrected, [by_id[c].text for c in head])
        return interpolate(fused, dict(zip(head, probs, strict=True)), settings["weight"]), max(
            probs, default=0.0
        )


def interpolate(
    fused: Mapping[str, float], probs: Mapping[str, float], weight: float
) -> dict[str, float]:
    """(1 - weight) * fused + weight * reranker probability for the reranked chunks; the others
    keep (1 - weight) * fused, so nothing below the head can climb over it by omission.

    >>> interpolate({"a": 0.8, "b": 0.7, "c": 0.1}, {"a": 0.1, "b": 0.9}, 0.5)
    {'a': 0.45, 'b': 0.8, 'c': 0.05}
    """
    return {
        cid: round((1 - weight) * score + weight * probs.get(cid, 0.0), 6)
        for cid, score in fused.items()
    }


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
