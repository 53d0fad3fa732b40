"""Compose an answer from the handbook's own statements: the facts are quoted, never rewritten.

The 1.5B model swaps roles and inverts comparisons when it paraphrases a passage ("BERT is
autoregressive"), and a judge cannot reliably see it (same words, same section). So the default
answer is built from handbook statements (coach/handbook/statements.py): the ones that answer the
question best, as many as the kind of question needs, read in the handbook's order, each cited
by the section it comes from. Nothing in the answer is a claim the handbook does not make.

How statements are chosen (tuned on the answer-correctness dev split, evals/answer/README.md):
- candidates: the statements of the top search hit's section, and of the next hits whose fused
  score is close to the top one (a question two sections answer);
- relevance: MiniLM cosine between the question and the statement, plus the share of the
  question's terms the statement contains, plus a bonus for the top section;
- count by kind of question (`question_kind`): a definition or yes/no question gets 2-3 statements,
  "how/why/explain" 4, a comparison or a multi-part question up to 6;
- no two near-duplicates (the handbook often repeats a point in its tip).
Leaves out: whether the question is in scope (coach/search/scope.py) and the short verdict a
yes/no question opens with (pipeline.py asks the model for it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coach.handbook import Erratum, Statement
from coach.search import STOPWORDS, tokenize

# A yes/no question: an auxiliary verb opens it, or opens its main clause after an "If ...," or
# "With ...," lead-in.
_YES_NO = re.compile(
    r"^(?:(?:so|ok(?:ay)?|and|but|well)\b[\s,]*)?(?:(?:if|when|with|once|given|for)\b[^?]{0,120}?,\s*)?"
    r"(?:is|are|was|were|does|do|did|can|could|should|would|will|has|have|had|isn't|aren't|"
    r"doesn't|don't|won't|shouldn't|must|might)\b",
    re.IGNORECASE,
)
_COMPARISON = re.compile(r"\b(?:vs\.?|versus|differ\w*|difference|compare\w*|contrast)\b", re.I)
_DEFINITION = re.compile(r"^(?:what(?: is|'s| are| does .* mean)|define)\b", re.I)
_LIST = re.compile(r"\b(?:which|name|list|kinds of|types of|ways to|pitfalls)\b", re.I)
# The start of a question clause: "What is LoRA, why was it introduced, and when ...".
_CLAUSE = re.compile(
    r"(?:^|[,;?]\s*|\band\s+)(?:what|why|how|when|which|where|who|does|do|is|are|can|should)\b",
    re.IGNORECASE,
)

# How many statements each kind of question gets, at most: chosen on the answer-correctness dev
# split, where key facts present rose from 0.65 at 3-6 to 0.76 at these counts (5.5 statements
# on average); the ranking, not the count, is what keeps a short answer from covering more.
COUNTS = {"yes_no": 4, "definition": 4, "explanation": 6, "list": 6, "comparison": 7, "multi": 8}


@dataclass(frozen=True)
class ComposeSettings:
    # A hit's section is a candidate if its fused score is at least this share of the top one's.
    section_ratio: float = 0.85
    # Weight of the term-overlap share beside the cosine (the cosine alone misses exact terms).
    lexical_weight: float = 0.35
    # Added to statements of the top section: the search already judged it the best answer
    # (dev: 0.1 -> 0.4 raised key facts 0.60 -> 0.63).
    top_section_bonus: float = 0.4
    # A statement this similar (cosine) to one already chosen adds nothing.
    duplicate_cosine: float = 0.85
    # Statements scoring below this share of the best one are not worth showing.
    keep_ratio: float = 0.5
    # Below this, even the best statement does not answer the question: decline instead.
    min_relevance: float = 0.45


def question_kind(question: str) -> str:
    """The kind of answer a question asks for.

    >>> question_kind("Does a higher temperature make the output more deterministic?")
    'yes_no'
    >>> question_kind("Top-k vs top-p sampling")
    'comparison'
    >>> question_kind("What is LoRA, why was it introduced, and when would you not use it?")
    'multi'
    >>> question_kind("Why do we scale attention scores?")
    'explanation'
    >>> question_kind("What is a foundation model?")
    'definition'
    >>> question_kind("If the logits are all equal, does temperature still matter?")
    'yes_no'
    >>> question_kind("my fine-tuned model forgot how to code, what happened")
    'explanation'
    """
    q = question.strip()
    if _COMPARISON.search(q):
        return "comparison"
    if len(_CLAUSE.findall(q)) >= 2 or q.count("?") >= 2:
        return "multi"
    if _YES_NO.match(q):
        return "yes_no"
    if _DEFINITION.match(q) and len(q.split()) <= 12:
        return "definition"
    if _LIST.search(q):
        return "list"
    return "explanation"


def content_terms(text: str) -> set[str]:
    """Index terms of a text without stopwords.

    >>> sorted(content_terms("What is the role of top-p sampling?"))
    ['p', 'role', 'sampling', 'top', 'top-p', 'topp']
    """
    return {t for t in tokenize(text) if t not in STOPWORDS}


def relevance(
    question_vec: np.ndarray,
    question_terms: set[str],
    statements: Sequence[Statement],
    vectors: np.ndarray,
    top_section: str,
    settings: ComposeSettings,
) -> np.ndarray:
    """One score per statement: cosine + lexical_weight * term share + top-section bonus."""
    cos = vectors @ question_vec
    scores = []
    for st, c in zip(statements, cos, strict=True):
        terms = content_terms(st.text)
        share = len(question_terms & terms) / len(question_terms) if question_terms else 0.0
        bonus = settings.top_section_bonus if st.section == top_section else 0.0
        scores.append(float(c) + settings.lexical_weight * share + bonus)
    return np.asarray(scores)


def choose(
    statements: Sequence[Statement],
    scores: np.ndarray,
    vectors: np.ndarray,
    count: int,
    settings: ComposeSettings,
    section_order: Sequence[str],
) -> list[Statement]:
    """The best `count` statements, no near-duplicates, in section order then handbook order.

    >>> sts = [Statement(f"Q1.s{i}", "Q01", t, "sentence", i) for i, t in enumerate("abc")]
    >>> vecs = np.eye(3, dtype=np.float32)
    >>> [s.text for s in choose(sts, np.array([0.5, 0.9, 0.8]), vecs, 2, ComposeSettings(),
    ...                         ["Q01"])]
    ['b', 'c']
    """
    if not statements:
        return []
    order = np.argsort(-scores, kind="stable")
    best = float(scores[order[0]])
    picked: list[int] = []
    for i in order:
        if len(picked) == count:
            break
        if picked and scores[i] < settings.keep_ratio * best:
            break
        if statements[i].kind == "lead" or statements[i].text.rstrip().endswith("?"):
            continue  # a lead-in or a heading ("Why divide by √d_k?") is not an answer
        if any(float(vectors[i] @ vectors[j]) >= settings.duplicate_cosine for j in picked):
            continue
        picked.append(int(i))
    rank = {sid: n for n, sid in enumerate(section_order)}
    picked.sort(key=lambda i: (rank.get(statements[i].section, 99), statements[i].position))
    return [statements[i] for i in picked]


def compose(
    question: str,
    hits: Sequence[tuple[str, float]],
    statements: dict[str, tuple[Statement, ...]],
    question_vector: np.ndarray,
    statement_vector,
    settings: ComposeSettings | None = None,
    kind: str | None = None,
) -> tuple[list[Statement], float]:
    """The statements that answer `question`, and the best one's relevance score.

    `hits` are (section id, fused score), best first; `statement_vector(statement_id)` returns
    the statement's L2-normalised vector (the index stores them). The score lets the caller
    decline when even the best statement is a poor match.
    """
    settings = settings or ComposeSettings()
    if not hits:
        return [], 0.0
    top_score = hits[0][1]
    sections = [sid for sid, score in hits if score >= settings.section_ratio * top_score]
    candidates = [st for sid in sections for st in statements.get(sid, ())]
    if not candidates:
        return [], 0.0
    vecs = np.stack([statement_vector(st.id) for st in candidates])
    scores = relevance(
        question_vector, content_terms(question), candidates, vecs, sections[0], settings
    )
    count = COUNTS[kind or question_kind(question)]
    chosen = choose(candidates, scores, vecs, count, settings, sections)
    return chosen, float(scores.max())


def render(chosen: Sequence[Statement], errata: Sequence[Erratum] = ()) -> tuple[str, list]:
    """The chosen statements as answer text, and the errata they quote.

    Each statement ends with its section's citation; statements of one section form a paragraph;
    the correction of an erratum follows the statement that quotes it.

    >>> sts = [Statement("Q21.s0", "Q21", "T rescales logits.", "sentence", 0),
    ...        Statement("Q22.s1", "Q22", "Top-p adapts.", "sentence", 1)]
    >>> print(render(sts)[0])
    T rescales logits. [Q21]
    <BLANKLINE>
    Top-p adapts. [Q22]
    """
    paragraphs: list[list[str]] = []
    used: list = []
    last = None
    for st in chosen:
        text = f"{st.text.rstrip()} [{st.section}]"
        found = [e for e in errata if e.question == st.section and e.span in st.text]
        for e in found:
            text += f" *({e.note()})*"
        used += [e for e in found if e not in used]
        if st.section != last:
            paragraphs.append([])
            last = st.section
        paragraphs[-1].append(text)
    return "\n\n".join(" ".join(p) for p in paragraphs), used
