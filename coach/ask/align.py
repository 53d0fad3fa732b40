"""Align an answer sentence to the handbook statement it restates, and say whether it restates it
faithfully: the check that lets a generated answer reach the user only sentence by sentence.

A sentence is compared with every candidate statement by its content terms (coach.search
tokenize, stopwords out): `coverage` is the share of the sentence's terms the statement has,
`order` the longest common subsequence of the shared terms over their count, so a
swap ("BERT is autoregressive, GPT masked" against "BERT masked, GPT autoregressive") scores
full coverage but low order. On the best-covering statement the sentence must also keep:
- every number and formula token (a changed number is the commonest unfaithful edit);
- negation ("not", "never", "without", "n't": present in both or in neither);
- direction and comparison words ("more", "lower", "increase", "sharper" ...): none that the
  statement does not have, so "higher temperature makes it more deterministic" fails against a
  statement that says "more random".

Verdicts: `quoted` (faithful restatement), `garbled` (it restates a statement but breaks one of
the rules: replace it with the statement), `unsupported` (no statement covers it: drop it).
Deterministic and cheap; no model. Leaves out: choosing statements (compose.py) and the judge
that scores free paraphrase (judge.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from coach.ask.support import numbers, split_sentences
from coach.handbook import Statement
from coach.search import STOPWORDS, tokenize

_NEGATION = re.compile(r"\b(?:not|no|never|none|neither|nor|without|cannot)\b|n't\b", re.I)
# Words that carry a direction or a comparison; a sentence may not add one its statement lacks.
DIRECTION_WORDS = frozenset(
    """more less fewer most least higher lower highest lowest larger smaller largest smallest
    bigger biggest increase increases increased increasing decrease decreases decreased
    decreasing raise raises lower lowers reduce reduces reduced grow grows grew shrink shrinks
    faster slower better worse best worst sharper flatter sharpen sharpens flatten flattens
    before after above below up down upward downward over under maximum minimum max min
    deterministic random randomness diverse diversity focused peaked uniform""".split()
)


@dataclass(frozen=True)
class Alignment:
    statement: Statement | None
    coverage: float  # share of the sentence's terms found in the statement
    order: float  # share of the shared terms that come in the statement's order (LCS)
    verdict: str  # "quoted", "garbled" or "unsupported"
    reason: str  # why it is not "quoted" ("" when it is)


@dataclass(frozen=True)
class AlignSettings:
    # A sentence restates a statement when it shares this much of its terms with it...
    min_coverage: float = 0.5
    # ...and restates it faithfully with at least this coverage, and its shared terms in the
    # statement's order (strict: a reordered restatement is shown as the statement instead).
    quoted_coverage: float = 0.8
    quoted_order: float = 1.0


def terms(text: str) -> list[str]:
    """Content terms in order (index terms of coach.search, stopwords out).

    >>> terms("BERT uses masked language modeling, P(x).")
    ['bert', 'use', 'masked', 'language', 'modeling']
    """
    return [t for t in tokenize(text) if t not in STOPWORDS and "-" not in t and len(t) > 1]


def lcs(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence.

    >>> lcs("abcde", "ace"), lcs(["x", "y"], ["y", "x"]), lcs([], ["a"])
    (3, 1, 0)
    """
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def direction_words(text: str) -> set[str]:
    """
    >>> sorted(direction_words("Higher T makes the output more random."))
    ['higher', 'more', 'random']
    """
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w in DIRECTION_WORDS}


def has_negation(text: str) -> bool:
    """
    >>> has_negation("It doesn't add latency"), has_negation("It adds latency")
    (True, False)
    """
    return bool(_NEGATION.search(text))


def broken_rule(sentence: str, statement: str) -> str:
    """The first faithfulness rule the sentence breaks against its statement, or "".

    >>> broken_rule("Higher temperature makes output more deterministic.",
    ...             "Higher temperature makes output more random.")
    'adds direction words: deterministic'
    >>> broken_rule("Use p = 0.95.", "Use p = 0.9 for most tasks.")
    'changes a number: 0.95'
    >>> broken_rule("LoRA adds no latency.", "LoRA adds latency.")
    'flips negation'
    >>> broken_rule("Top-p keeps the smallest set.", "Top-p keeps the smallest set above p.")
    ''
    """
    missing = numbers(sentence) - numbers(statement)
    if missing:
        return "changes a number: " + ", ".join(sorted(missing))
    if has_negation(sentence) != has_negation(statement):
        return "flips negation"
    added = direction_words(sentence) - direction_words(statement)
    if added:
        return "adds direction words: " + ", ".join(sorted(added))
    return ""


def _units(statements: Sequence[Statement]):
    """Each statement, and each sentence of a statement that has several: a sentence that
    restates one of them is compared with that one ("These are the practical jumps." must not
    inherit the negation of "Don't just say ..." in the same statement)."""
    for st in statements:
        yield st, st.text
        parts = split_sentences(st.text)
        if len(parts) > 1:
            for part in parts:
                yield st, part
        label, colon, cells = st.text.partition(": ")
        if colon and " — " in cells and ";" in cells:
            # A table row: each cell with the row label, so a sentence about one column is
            # compared with that column ("Generative Models — joint P(x,y)") and not credited
            # with words from another.
            for cell in cells.split(";"):
                yield st, f"{label}: {cell.strip()}"


def align(
    sentence: str, statements: Sequence[Statement], settings: AlignSettings | None = None
) -> Alignment:
    """The statement the sentence restates, and how faithfully."""
    settings = settings or AlignSettings()
    words = terms(sentence)
    if not words or not statements:
        return Alignment(None, 0.0, 0.0, "unsupported", "no statement to compare with")
    best = None
    for st, text in _units(statements):
        other = terms(text)
        present = set(other)
        shared = [w for w in words if w in present]
        coverage = len(shared) / len(words)
        # Of the terms the two share, the share that comes in the same order: a swap of two
        # names ("BERT masked, GPT autoregressive") breaks it even when every word is there.
        order = lcs(shared, other) / len(shared) if shared else 0.0
        # Among equal matches prefer the shortest unit: the rules below compare with it.
        key = (coverage, order, -len(other))
        if best is None or key > best[0]:
            best = (key, st, text)
    (coverage, order, _), st, text = best
    if coverage < settings.min_coverage:
        return Alignment(st, coverage, order, "unsupported", "no statement says this")
    reason = broken_rule(sentence, text)
    if not reason and coverage < settings.quoted_coverage:
        reason = "adds terms the statement does not have"
    if not reason and order < settings.quoted_order:
        reason = "reorders the statement's terms (roles may be swapped)"
    return Alignment(st, coverage, order, "garbled" if reason else "quoted", reason)
