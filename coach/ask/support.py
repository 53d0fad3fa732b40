"""The deterministic support score: how well each answer sentence is backed by the sources.

One module that answers (grounding caveats), guardrails (the `ungrounded` flag) and evals (the
faithfulness baseline and the judge) all call. Per sentence, against the source passages:

- lexical: the share of the sentence's content terms that occur in the sources;
- semantic: the best cosine between the sentence and any source sentence (MiniLM);
- numbers and formulas in the sentence that the sources never mention cap the score, since a
  swapped number ("d_k" for "√d_k", "8K" for "4K") is the typical unfaithful edit.

score = (lexical + semantic) / 2, times 0.5 per unsupported number (floored at 0).
Leaves out: any LLM judgement (see the judge eval).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from coach.search import Embedder, default_embedder, tokenize

_CITATION = re.compile(r"\[(?:[QP]\d{1,2})(?:\s*[,;]\s*[QP]\d{1,2})*\]", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[*])")
_LIST_MARKER = re.compile(r"^(?:[-*•]|\d{1,2}[.)])\s+")
_EMPHASIS = re.compile(r"\*\*|__")
_NUMBER = re.compile(r"(?<![\w.])[√~]?\d+(?:[.,]\d+)*(?:[kKmMbB%×x])?")


def split_sentences(text: str) -> list[str]:
    r"""Sentences of an answer, citations removed, list markers and emphasis kept out.

    A numbered item's "1." is not a sentence: judged alone it reads as an unsupported claim.

    >>> split_sentences("LoRA is low-rank [Q32]. It trains A and B!\n- Why? Because.")
    ['LoRA is low-rank.', 'It trains A and B!', 'Why?', 'Because.']
    >>> split_sentences("Two uses:\n1. **Search**: find passages.\n2) Clustering.")
    ['Two uses:', 'Search: find passages.', 'Clustering.']
    """
    text = _EMPHASIS.sub("", _CITATION.sub("", text))
    out = []
    for line in text.splitlines():
        line = _LIST_MARKER.sub("", line.strip())
        for s in _SENTENCE_END.split(line):
            s = re.sub(r"\s+([.,;:!?])", r"\1", s).strip().lstrip("-*• ").strip()
            if len(s) > 1 and re.search(r"[A-Za-z]", s):
                out.append(s)
    return out


def numbers(text: str) -> set[str]:
    """Numeric tokens, normalised for comparison.

    >>> sorted(numbers("Scale by √d_k, with 4K tokens and 0.7 or 32× more."))
    ['0.7', '32×', '4k']
    """
    return {m.group().lower().replace(",", "") for m in _NUMBER.finditer(text)}


def lexical_support(sentence: str, source_terms: set[str]) -> float:
    """Share of the sentence's content terms found in the sources.

    Terms: lora, train, low-rank, low, rank, lowrank, matrice -> 4 of 7 in the sources.

    >>> lexical_support("LoRA trains low-rank matrices", {"lora", "low-rank", "low", "rank"})
    0.5714285714285714
    """
    terms = tokenize(sentence)
    if not terms:
        return 1.0
    return sum(t in source_terms for t in terms) / len(terms)


def support_scores(
    sentences: Sequence[str], sources: Sequence[str], embedder: Embedder | None = None
) -> list[float]:
    """A score in [0, 1] per sentence; sources are passage texts."""
    if not sentences:
        return []
    source_text = "\n".join(sources)
    source_sents = [s for p in sources for s in split_sentences(p)] or [source_text]
    if not source_text.strip():
        return [0.0 for _ in sentences]
    terms = set(tokenize(source_text))
    source_numbers = numbers(source_text)
    embedder = embedder or default_embedder()
    vecs = embedder.embed([*sentences, *source_sents])
    sims = vecs[: len(sentences)] @ vecs[len(sentences) :].T
    best = np.clip(sims.max(axis=1), 0.0, 1.0)
    scores = []
    for sentence, sem in zip(sentences, best, strict=True):
        score = (lexical_support(sentence, terms) + float(sem)) / 2
        missing = numbers(sentence) - source_numbers
        score *= 0.5 ** len(missing)
        scores.append(round(score, 4))
    return scores
