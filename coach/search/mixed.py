"""One ranking over the handbook and the user's collections.

The handbook keeps its own pipeline (doc2query rows, typo correction, the fitted scope model)
and each collection set its own (collections.py); both score a section with the same linear
fusion, `w * bm25 / max_bm25 + (1 - w) * cosine` with one w and one embedder, so the two
scores sit on one scale and the merged ranking orders hits by them. BM25 is normalised within
each side (every side's best lexical match gets 1): a side with no real match still gets a
full lexical share for its best hit, which is why `in_scope` comes from each side's own
decision, not from the merged scores. The collections eval measures what mixing costs each
side (evals/collections/).

Ids: handbook hits keep their short form ("Q17", the CLI contract's), collection hits are
namespaced ("notes:s12"); `handbook:Q17` is accepted wherever an id is read (`split_id`).
The handbook side runs in hybrid mode so its scores stay fused ones.
Leaves out: a reranker over the merged list (the handbook's is off by default).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from coach.config import Config
from coach.search.collections import CollectionHit, get_collection_searcher
from coach.search.searcher import Hit, get_searcher

HANDBOOK = "handbook"


def split_id(ref: str) -> tuple[str, str]:
    """(collection, local id) of a section id; bare ids are the handbook's.

    >>> split_id("notes:s12"), split_id("handbook:Q17"), split_id("Q17")
    (('notes', 's12'), ('handbook', 'Q17'), ('handbook', 'Q17'))
    """
    name, sep, local = ref.partition(":")
    return (name, local) if sep else (HANDBOOK, ref)


@dataclass(frozen=True)
class MixedResult:
    query: str
    in_scope: bool  # any searched side says it covers the query
    hits: tuple[Hit | CollectionHit, ...]
    in_scope_by: dict  # side -> its own scope decision

    def to_json(self) -> dict:
        """The `coach search` contract's shape."""
        return {
            "query": self.query,
            "in_scope": self.in_scope,
            "hits": [h.to_json() for h in self.hits],
        }


class MixedSearcher:
    """The handbook and some collections searched as one."""

    def __init__(self, cfg: Config, names: Sequence[str], progress=None):
        names = list(dict.fromkeys(names))
        self.with_handbook = HANDBOOK in names
        self.collections = [n for n in names if n != HANDBOOK]
        self.handbook = get_searcher(cfg) if self.with_handbook else None
        self.others = (
            get_collection_searcher(cfg, self.collections, progress=progress)
            if self.collections
            else None
        )

    def search(self, query: str, k: int = 5) -> MixedResult:
        hits: list = []
        scope: dict = {}
        if self.handbook is not None:
            result = self.handbook.search(query, k=k, mode="hybrid")  # fused scores
            hits += result.hits
            scope[HANDBOOK] = result.in_scope
        if self.others is not None:
            result = self.others.search(query, k=k)
            hits += result.hits
            scope[",".join(self.collections)] = result.in_scope
        ranked = sorted(hits, key=lambda h: -h.score)[:k]
        ranked = [dataclasses.replace(h, rank=i) for i, h in enumerate(ranked, 1)]
        return MixedResult(query, any(scope.values()), tuple(ranked), scope)
