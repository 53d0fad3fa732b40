"""Search: find the handbook sections that answer a query, and decide whether any does.

The path of one query: `Searcher.prepare` corrects the spelling and embeds it once (a `Query`),
then `Searcher.search` scores it with BM25 and FAISS (index.py), fuses per section
(fusion.py), optionally reranks (rerank.py) and decides scope (scope.py): a `SearchResult`.
`searcher.py` holds the entry point; `index.py` builds and loads the persisted index.
`collections.py` indexes and searches the user's own collections (coach/sources) the same way,
one index per collection, ids namespaced `notes:s12`; `mixed.py` ranks the handbook and
collections as one list.
Public names: Searcher, SearchResult, Hit, Query, get_searcher, linear_fusion,
linear_fusion_array, rrf, top_k, Embedder, HashEmbedder, MiniLMEmbedder, default_embedder, BM25,
tokenize, Index, ensure_index, index_status, CrossEncoderReranker, load_synthetic,
search_collections, CollectionSearcher, CollectionResult, CollectionHit; the modules
collections, mixed, index, rerank, scope, spell and synthetic.
Must not import: search.training (offline steps), llm, guardrails, ask, interview, evals, ui, cli.
"""

from coach.search.collections import (
    CollectionHit,
    CollectionResult,
    CollectionSearcher,
    search_collections,
)
from coach.search.embed import MODEL_ID, Embedder, HashEmbedder, MiniLMEmbedder, default_embedder
from coach.search.fusion import linear_fusion, linear_fusion_array, rrf, top_k
from coach.search.index import Index, ensure_index, index_status
from coach.search.lexical import BM25, STOPWORDS, tokenize
from coach.search.rerank import CrossEncoderReranker
from coach.search.searcher import Hit, Query, Searcher, SearchResult, get_searcher
from coach.search.synthetic import load_synthetic

__all__ = [
    "BM25",
    "CollectionHit",
    "CollectionResult",
    "CollectionSearcher",
    "CrossEncoderReranker",
    "Embedder",
    "HashEmbedder",
    "Hit",
    "Index",
    "MODEL_ID",
    "MiniLMEmbedder",
    "Query",
    "STOPWORDS",
    "SearchResult",
    "Searcher",
    "default_embedder",
    "ensure_index",
    "get_searcher",
    "index_status",
    "linear_fusion",
    "linear_fusion_array",
    "load_synthetic",
    "rrf",
    "search_collections",
    "tokenize",
    "top_k",
]
