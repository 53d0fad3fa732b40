"""The scope decision: does the handbook cover this query?

One decision shared by search, answers and evals. The score combines three signals, each
cheap and computed during hybrid search:

- the best cosine between the query and a handbook chunk (MiniLM);
- vocabulary coverage: the share of the query's terms that occur in the handbook at all
  (near-domain questions the handbook does not cover tend to name things it never mentions:
  "PagedAttention", "GGUF", "speculative");
- the best BM25 score, which rewards queries whose rare terms the handbook does use.

score = chunk_cos + 0.3 * coverage + 0.01 * bm25_max. On the retrieval golden set's dev split
its ROC AUC was 0.935 (chunk cosine alone 0.871, BM25 alone 0.890, the reranker's best score
0.852), and the threshold below flags at most 3% of in-scope dev queries (2.3%), which there
flagged 60% of out-of-scope ones. Leaves out: refusal wording (answer.py) and the model's own
abstention, the second layer.
"""

from __future__ import annotations

from dataclasses import dataclass

SIGNAL = "chunk_cos + 0.3*coverage + 0.01*bm25_max"
COVERAGE_WEIGHT = 0.3
BM25_WEIGHT = 0.01
# Chosen on the dev split as the largest threshold that flags <= 3% of in-scope queries.
THRESHOLD = 0.61


@dataclass(frozen=True)
class ScopeDecision:
    in_scope: bool
    score: float


def scope_score(chunk_cos: float, coverage: float, bm25_max: float) -> float:
    """
    >>> round(scope_score(0.5, 1.0, 10.0), 3)
    0.9
    """
    return chunk_cos + COVERAGE_WEIGHT * coverage + BM25_WEIGHT * bm25_max


def coverage(terms: list[str], vocabulary: set[str]) -> float:
    """Share of query terms (compounds' parts, not the compounds) known to the handbook.

    >>> coverage(["lora", "pagedattention", "top-p", "top", "p"], {"lora", "top", "p"})
    0.75
    >>> coverage([], {"x"})
    0.0
    """
    plain = [t for t in terms if "-" not in t]
    return sum(t in vocabulary for t in plain) / len(plain) if plain else 0.0


def decide(score: float, threshold: float = THRESHOLD) -> ScopeDecision:
    """
    >>> decide(0.9).in_scope, decide(0.3).in_scope
    (True, False)
    """
    return ScopeDecision(score >= threshold, score)
