"""Overlap between eval queries and synthetic training questions.

Two texts overlap when their word 5-gram Jaccard similarity is >= 0.5 or their embedding
cosine is >= 0.9 (evals/retrieval/README.md). Synthetic questions that overlap any eval query
are dropped from training, and the count is reported, so a reranker or fine-tuned embedder
never trains on (near-)copies of what it is tested on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

JACCARD_MIN = 0.5
COSINE_MIN = 0.9


def ngrams(text: str, n: int = 5) -> set[tuple[str, ...]]:
    """Word n-grams of a lower-cased text; texts shorter than n give one n-gram of all words.

    >>> sorted(ngrams("What is top-p sampling", n=3))
    [('is', 'top-p', 'sampling'), ('what', 'is', 'top-p')]
    >>> ngrams("LoRA rank", n=5)
    {('lora', 'rank')}
    """
    words = re.findall(r"[\w'-]+", text.lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set, b: set) -> float:
    """
    >>> jaccard({1, 2}, {2, 3})
    0.3333333333333333
    """
    return len(a & b) / len(a | b) if a | b else 0.0


def overlapping(
    candidates: Sequence[str],
    references: Sequence[str],
    cand_vecs: np.ndarray | None = None,
    ref_vecs: np.ndarray | None = None,
) -> list[dict]:
    """For each candidate that overlaps a reference: the pair and why."""
    ref_grams = [ngrams(r) for r in references]
    sims = cand_vecs @ ref_vecs.T if cand_vecs is not None and ref_vecs is not None else None
    found = []
    for i, cand in enumerate(candidates):
        grams = ngrams(cand)
        for j, ref in enumerate(references):
            jac = jaccard(grams, ref_grams[j])
            cos = float(sims[i, j]) if sims is not None else 0.0
            if jac >= JACCARD_MIN or cos >= COSINE_MIN:
                found.append(
                    {
                        "candidate": cand,
                        "reference": ref,
                        "jaccard": round(jac, 3),
                        "cosine": round(cos, 3),
                    }
                )
                break
    return found
