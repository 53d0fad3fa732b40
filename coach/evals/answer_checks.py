"""Per-answer correctness checks of the answer eval, deterministic and model-free.

- `key_facts_present`: a key fact of the correctness set counts as stated when the answer quotes
  the handbook statement that carries it (the fact's best-matching statement in its reference
  sections), or when an answer sentence is a close paraphrase of it (MiniLM cosine >= 0.75). A
  "Yes."/"No." fact counts only if the answer opens with that word.
- `must_not_stated`: a labelled wrong statement counts as made when an answer sentence restates
  it faithfully by the alignment rules (coach/ask/align.py: same terms, same order, same
  numbers, negation and direction words), i.e. the answer says that wrong thing.
- `ungrounded_sentences`: sentences shown as the answer that restate no handbook statement; the
  coach's own notes (errata corrections, the gate's note) are not claims and are left out.
These are the automatic figures; the README reports them beside a reading by hand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from coach.ask import split_sentences
from coach.ask.align import AlignSettings, align
from coach.ask.compose import content_terms
from coach.handbook import Statement

PARAPHRASE_COSINE = 0.75
_NOTES = re.compile(r"\*\([^*]*\)\*|↺|^\*[^*\n]*\*$|^\*\*[^*]+\*\* \([QP]\d{1,2}\):", re.M)
_CITATION = re.compile(r"\[(?:[QP]\d{1,2})(?:\s*[,;]\s*[QP]\d{1,2})*\]")
_VERDICT = re.compile(r"^\s*(yes|no)\b", re.IGNORECASE)


def claims_of(answer: str) -> list[str]:
    """The answer's sentences without the coach's notes; a citation ends a sentence.

    >>> claims_of("T rescales logits. [Q21] *(Correction: x.)*\\n\\n**Mental Model** (Q21): Low.")
    ['T rescales logits.', 'Low.']
    >>> claims_of("LLMs learn. [Q02] n-gram models were tables. [Q02]")
    ['LLMs learn.', 'n-gram models were tables.']
    """
    text = _NOTES.sub("", answer)
    return [s for part in _CITATION.split(text) for s in split_sentences(part)]


def fact_statement(fact: str, candidates: Sequence[Statement], embed) -> str | None:
    """The statement of the reference sections that best carries a key fact (cosine plus
    term share, the composer's relevance without its bonuses)."""
    if not candidates:
        return None
    vecs = embed([fact, *(c.text for c in candidates)])
    terms = content_terms(fact)
    scores = [
        float(vecs[0] @ v) + 0.3 * len(terms & content_terms(c.text)) / max(1, len(terms))
        for c, v in zip(candidates, vecs[1:], strict=True)
    ]
    return candidates[int(np.argmax(scores))].id


def is_verdict(fact: str) -> bool:
    """A key fact that is only the verdict of a yes/no question.

    >>> is_verdict("No."), is_verdict("No, the opposite."), is_verdict("Nobody knows why.")
    (True, True, False)
    """
    return bool(_VERDICT.match(fact)) and len(fact.split()) <= 3


def key_facts_present(
    facts: Sequence[str],
    answer: str,
    quoted_ids: Sequence[str],
    candidates: Sequence[Statement],
    embed,
) -> list[bool]:
    """One flag per key fact: does the answer state it?"""
    sentences = claims_of(answer)
    vecs = embed(sentences) if sentences else None
    out = []
    for fact in facts:
        verdict = _VERDICT.match(fact)
        if is_verdict(fact):
            said = _VERDICT.match(answer)
            out.append(bool(said) and said.group(1).lower() == verdict.group(1).lower())
            continue
        if fact_statement(fact, candidates, embed) in set(quoted_ids):
            out.append(True)
            continue
        close = vecs is not None and float((vecs @ embed([fact])[0]).max()) >= PARAPHRASE_COSINE
        out.append(bool(close))
    return out


def formulas(text: str) -> set[str]:
    """Formula-like tokens, spaces and case removed: the part of a claim words do not carry.

    >>> sorted(formulas("Beam search costs O(V^B) per step; KL(P||Q) = H(P,Q) - H(P)."))
    ['h(p)', 'h(p,q)', 'kl(p||q)', 'o(v^b)']
    """
    found = re.findall(r"[A-Za-z]{1,5}\([^()\s]*(?:\([^()]*\))?[^()\s]*\)|\w+\^\S+", text)
    return {f.lower().replace(" ", "").rstrip(".,;") for f in found}


def must_not_stated(must_not: Sequence[str], answer: str) -> list[str]:
    """The labelled wrong statements the answer makes."""
    sentences = claims_of(answer)
    strict = AlignSettings(quoted_coverage=1.0)
    made = []
    for wrong in must_not:
        for i, sentence in enumerate(sentences):
            unit = [Statement(f"a{i}", "A", sentence, "sentence", i)]
            back = [Statement("w", "W", wrong, "sentence", 0)]
            # Both ways: the sentence says every term of the wrong statement, in its order, with
            # its formulas, and the wrong statement is most of what the sentence says (a long
            # table row that names BERT and "decoder-only" in different cells makes no claim).
            if (
                align(wrong, unit, strict).verdict == "quoted"
                and formulas(wrong) <= formulas(sentence)
                and align(sentence, back).coverage >= 0.5
            ):
                made.append(wrong)
                break
    return made


def ungrounded_sentences(answer: str, statements: Sequence[Statement]) -> list[str]:
    """Shown sentences that restate no handbook statement faithfully."""
    return [s for s in claims_of(answer) if align(s, statements).verdict != "quoted"]
