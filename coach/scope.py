"""The scope decision: does the handbook cover this query?

One decision shared by search, answers and evals. The score is the top dense cosine between
the query and any chunk (AUROC ≈ 0.86 on an early probe; DESIGN.md), and the threshold is
chosen on the retrieval golden set's dev split (see `coach eval --suite retrieval`).
Leaves out: refusal wording (answer.py).
"""

from __future__ import annotations

from dataclasses import dataclass

SIGNAL = "top dense cosine"
# Chosen on the dev split (see evals/retrieval/README.md); provisional until tuned.
THRESHOLD = 0.35


@dataclass(frozen=True)
class ScopeDecision:
    in_scope: bool
    score: float


def decide(
    top_dense_cosine: float, rerank_top: float | None = None, threshold: float = THRESHOLD
) -> ScopeDecision:
    """In scope when the best chunk is close enough to the query.

    >>> decide(0.6).in_scope, decide(0.1).in_scope
    (True, False)
    """
    return ScopeDecision(top_dense_cosine >= threshold, top_dense_cosine)
