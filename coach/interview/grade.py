"""Grading an interview answer against its question's rubric (corpus/rubrics.json).

The score is a visible function of the point verdicts: each rubric point the answer makes
("covered") adds 10 x its weight, a point it only touches ("partial") adds half of that, a missed
point adds nothing; each substantive error takes `error_deduction` off, and two or more cap the
score at `errors_cap`. The grade shows this breakdown, and it adds up to the score.

Whether a point is made is a calibrated probability over four signals, fitted on the grading
set's dev split against human grades (evals/grading/README.md):
- the local model's P(yes) that the answer states the point correctly, read from the logits of
  one short question per point (the answer first, so every point reuses its cached prefill; a
  point nothing in the answer is close to is not asked);
- the best cosine between the point (or the handbook passage it comes from) and the answer's
  sentences and sentence pairs: the evidence span shown to the user;
- the share of the point's keywords in the answer (typeset math folded on both sides);
- how list-like the evidence is: a comma-separated run of terms names a point without making it,
  so keyword lists and padding earn nothing.
Errors are found without the model: a sentence that restates a handbook sentence with a swapped
role, an inverted direction or comparison, a flipped negation or a changed number (the alignment
rules of coach/ask/align.py), or that repeats a handbook error listed in corpus/errata.json.
Correct content beyond the handbook neither adds nor costs anything.

The candidate's answer is data: sentences that address the grader are flagged
`answer_injection` and removed before grading; when an injection is flagged the score is the
lower of the grades with and without those sentences (what is guaranteed, and what is measured
on held-out injections, is in evals/grading/README.md). Evidence, feedback, the follow-up and
the model answer are built from the rubric and the handbook, not written by the model.
Leaves out: storing grades (store.py) and choosing the next question (schedule.py).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from coach import guardrails
from coach.ask import alignment_terms as terms
from coach.ask import has_negation, lcs, numbers, split_sentences
from coach.config import Config
from coach.errors import BadInput
from coach.guardrails import strip_injections
from coach.handbook import (
    Erratum,
    Question,
    annotate,
    load_errata,
    load_handbook,
)
from coach.interview.collection_questions import load_collection_question
from coach.interview.refs import collection_of, normalize_ref
from coach.interview.rubrics import Rubric, RubricPoint, load_rubrics
from coach.llm import UsesGenerator, prompts
from coach.search import Embedder, default_embedder, tokenize

if TYPE_CHECKING:
    from coach.llm import Generator

VERDICTS = ("covered", "partial", "missed", "wrong")
_VALUE = {"covered": 1.0, "partial": 0.5, "missed": 0.0, "wrong": 0.0}
_SEED = 7
# Said first in the feedback when a collection section's rubric is the model's proposal.
PROPOSED_NOTE = (
    "Graded on a proposed rubric that nobody has reviewed yet: check its points in My material "
    "(or coach rubrics export) before trusting this score. "
)
# A verb-like word: what a sentence that makes a claim has and a list of terms usually lacks.
_VERB = re.compile(
    r"\b(?:is|are|was|were|be|been|has|have|had|does|do|did|can|could|will|would|should|must|"
    r"\w+(?:s|ed|es|ing))\b",
    re.IGNORECASE,
)
_NON_ANSWER = re.compile(
    r"^\W*(?:i\s+(?:do\s*n[o']?t|dont|have\s+no)\s+(?:know|idea|remember)|no\s+idea|pass|skip|"
    r"not\s+sure|idk|dunno|next(?:\s+question)?|no\s+clue)\b[\w\s,'.!?-]{0,40}$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class GradeSettings:
    """Every knob of the score, fitted on the grading set's dev split: a random search over the
    seven P(made) settings minimising squared error against the human grades (70 answers) and
    maximising their kappa, then rounded on the plateau (dev: QWK 0.92, Spearman 0.82 against
    humans, 0.83 against the quality labels); evals/grading/README.md has the figures."""

    # P(made) = sigmoid(bias + llm * logit(P(yes)) + cos * cosine + kw * keywords + lst * list)
    made_bias: float = -6.0
    made_llm: float = 2.2
    made_cos: float = 5.5
    made_kw: float = 4.6
    made_list: float = -2.3
    covered_at: float = 0.64  # P(made) at which a point counts as made
    partial_at: float = 0.3  # ...and as partly made (half credit)
    # A point whose best cosine to the answer is below this is not asked (P(yes) = 0): nothing
    # in the answer is about it, and the question would cost a prefill.
    ask_min_cosine: float = 0.3
    error_deduction: float = 1.5  # points off per substantive error (about one key idea)
    errors_cap: float = 3.0  # two or more errors cap the score here (the grading guide)


@dataclass(frozen=True)
class PointSignals:
    """The raw evidence for one rubric point, kept so settings can be re-fitted by replay."""

    cosine: float  # best cosine between the point (or its passage) and the answer
    keywords: float  # share of the point's keywords in the answer
    p_yes: float  # the model's probability that the point is stated correctly (0: not asked)
    list_like: float  # how much the evidence span reads like a list of terms, 0..1
    topic: float  # the best cosine over all points: how on-topic the answer is


def made_probability(sig: PointSignals, s: GradeSettings) -> float:
    """P(the point is made), the calibrated mix of the signals (pure).

    >>> s = GradeSettings()
    >>> made_probability(PointSignals(0.8, 1.0, 0.95, 0.0, 0.8), s) > s.covered_at
    True
    >>> made_probability(PointSignals(0.5, 0.0, 0.6, 0.0, 0.5), s) < s.partial_at  # vague
    True
    """
    p = min(max(sig.p_yes, 1e-4), 1 - 1e-4)
    z = (
        s.made_bias
        + s.made_llm * math.log(p / (1 - p))
        + s.made_cos * sig.cosine
        + s.made_kw * sig.keywords
        + s.made_list * sig.list_like
    )
    return round(1 / (1 + math.exp(-z)), 4)


def judge_point(sig: PointSignals, s: GradeSettings) -> tuple[float, str]:
    """(P(made), verdict) for one point.

    >>> judge_point(PointSignals(0.2, 0.0, 0.0, 0.0, 0.2), GradeSettings())
    (0.0, 'missed')
    """
    made = made_probability(sig, s)
    verdict = "covered" if made >= s.covered_at else "partial" if made >= s.partial_at else "missed"
    return made, verdict


CREDIT = {"covered": 1.0, "partial": 0.5, "missed": 0.0}


def point_credit(weight: float, verdict: str) -> float:
    """Points a rubric point of `weight` adds to the 0-10 score for its verdict."""
    return round(10 * weight * CREDIT[verdict], 2)


def list_likeness(text: str) -> float:
    """How much a span reads like a list of terms rather than a sentence, 0..1: separators per
    word, and sentences without a verb-like word.

    >>> list_likeness("Key terms: next token, neural network, predict, corpora, transformer")
    1.0
    >>> list_likeness("The model predicts the next token from the tokens before it.")
    0.0
    """
    words = text.split()
    if not words:
        return 1.0
    separators = text.count(",") + text.count(";") + text.count("•") + text.count("|")
    dense = min(1.0, max(0.0, (separators / len(words) - 0.1) * 5))
    verbless = 0.0 if _VERB.search(text) else 0.5
    return round(min(1.0, dense + verbless), 4)


@dataclass(frozen=True)
class GradeError:
    """A substantive error in the answer, found without the model."""

    kind: str  # "contradiction" (a swapped, inverted or changed restatement) or "erratum"
    text: str  # the answer's sentence
    detail: str  # what is wrong, for the user

    def message(self) -> str:
        return f'{self.detail} (you said: "{_short(self.text, 160)}")'


@dataclass(frozen=True)
class PointGrade:
    point: RubricPoint
    verdict: str
    evidence: str  # the answer's span that makes the point ("" when missed)
    made: float  # calibrated P(the point is made)
    signals: PointSignals

    @property
    def credit(self) -> float:
        """Points this point adds to the 0-10 score."""
        return point_credit(self.point.weight, self.verdict)

    def to_json(self) -> dict:
        return {
            "point": self.point.point,
            "verdict": self.verdict,
            "evidence": self.evidence,
            "weight": self.point.weight,
            "credit": self.credit,
        }


@dataclass(frozen=True)
class Grade:
    question: str
    score: float
    points: tuple[PointGrade, ...]
    errors: tuple[str, ...]
    feedback: str
    model_answer: str
    follow_up: str
    flags: tuple[str, ...]
    deductions: float = 0.0  # points taken off for errors (the breakdown: credits - this)
    found_errors: tuple[GradeError, ...] = ()
    seconds: float = 0.0
    tokens: dict = field(default_factory=dict)
    rubric: str = "handbook"  # a collection section's: "reviewed" or "proposed"

    def to_json(self) -> dict:
        out = {
            "question": self.question,
            "score": self.score,
            "points": [p.to_json() for p in self.points],
            "deductions": self.deductions,
            "errors": list(self.errors),
            "feedback": self.feedback,
            "model_answer": self.model_answer,
            "follow_up": self.follow_up,
            "flags": list(self.flags),
        }
        if self.rubric != "handbook":
            out["rubric"] = self.rubric
        return out


def verdict_schema(count: int) -> dict:
    """The JSON the model must return: exactly one verdict code per rubric point."""
    return {
        "type": "object",
        "properties": {
            "verdicts": {
                "type": "array",
                "items": {"type": "string", "enum": list(VERDICTS)},
                "minItems": count,
                "maxItems": count,
            }
        },
        "required": ["verdicts"],
    }


def is_non_answer(text: str) -> bool:
    """ "I don't know", "pass", "no idea": a skip, graded 0 without asking the model.

    >>> is_non_answer("I don't know, sorry."), is_non_answer("Pass"), is_non_answer("ReLU is fast")
    (True, True, False)
    """
    return bool(_NON_ANSWER.match(text.strip())) or len(tokenize(text)) == 0


def repeats_erratum(
    sentence: str, erratum: Erratum, section_terms: frozenset = frozenset()
) -> bool:
    """True when the sentence restates a listed handbook error: every term and number of the
    error span in its order, none of the correction's own terms (a sentence that states the
    correction often names the error too), and no negation the span lacks.

    >>> from coach.handbook import Erratum
    >>> e = Erratum("E1", "Q17", "expected value increases with d_k", "wrong",
    ...             "It is the variance that grows with d_k.", "r", "first_principles")
    >>> section = frozenset(["increases", "grows", "dot", "product"])
    >>> repeats_erratum("The expected value of q.k increases with d_k.", e, section)
    True
    >>> repeats_erratum("Its variance, not its expected value, increases with d_k.", e, section)
    False
    """
    span = terms(erratum.span)
    if not span or has_negation(sentence) != has_negation(erratum.span):
        return False
    said = terms(sentence)
    # The correction's own words: those the handbook section never uses ("variance").
    own = set(terms(erratum.correction)) - set(span) - section_terms
    if set(said) & own or not numbers(erratum.span) <= numbers(sentence):
        return False
    # Every term of the span, in the span's order: a sentence that only shares its topic
    # words ("beam search ... sequence") does not repeat the error.
    return lcs(span, said) == len(span)


def _units(sentences: list[str]) -> list[str]:
    """Sentences and adjacent pairs: a point is often made across two short sentences."""
    pairs = [f"{a} {b}" for a, b in zip(sentences, sentences[1:], strict=False)]
    return sentences + pairs


_MATH = str.maketrans(
    {
        "–": "-", "—": "-", "−": "-", "‑": "-", "×": "x", "·": "*", "√": " sqrt ",
        "ᵀ": "^t", "⊤": "^t", "²": "^2", "³": "^3", "⁻": "^-", "¹": "^1", "ₖ": "_k", "ᵢ": "_i",
    }
)  # fmt: skip


def fold_math(text: str) -> str:
    """Typed and typeset forms made equal, for keyword matching on both sides.

    >>> fold_math("QKᵀ/√d_k, 2–5× cost")
    'qk^t/ sqrt d_k, 2-5x cost'
    """
    return text.translate(_MATH).lower()


def _keyword_share(point: RubricPoint, answer_terms: set[str]) -> float:
    if not point.keywords:
        return 0.0
    hits = 0
    for keyword in point.keywords:
        terms = tokenize(fold_math(keyword))
        hits += bool(terms) and all(t in answer_terms for t in terms)
    return hits / len(point.keywords)


def _ramp(x: float, low: float, high: float) -> float:
    return float(np.clip((x - low) / (high - low), 0.0, 1.0))


class Grader(UsesGenerator, guardrails.UsesGuards):
    """Grades answers for any question; models load on first use and are shared."""

    def __init__(
        self,
        cfg: Config,
        *,
        generator: Generator | None = None,
        embedder: Embedder | None = None,
        guards: guardrails.Guards | None = None,
        settings: GradeSettings | None = None,
        collection_question: Callable | None = None,
    ):
        self.cfg = cfg
        self._generator = generator
        self.embedder = embedder or default_embedder()
        self._guards = guards
        self.settings = settings or GradeSettings()
        self.book = load_handbook()
        self.rubrics = load_rubrics()
        self._point_vecs: dict[str, np.ndarray] = {}
        self._judge = None  # the faithfulness judge, on the same model, built on first use
        self.collection_question = collection_question or load_collection_question
        self.rubric_status: dict[str, str] = {}  # collection ref -> "reviewed" | "proposed"

    def warm_up(self) -> None:
        self.generator.warm_up()
        self.embedder.embed(["warm up"])
        guardrails.check_input("warm up", context="interview", guards=self.guards)

    def rubric(self, ref: str) -> tuple[Question, Rubric]:
        """The question and its rubric: a handbook question's, or for a collection section
        ("pytut:s67") its reviewed or proposed rubric (`rubric_status` says which)."""
        ref = normalize_ref(ref)
        if collection_of(ref):
            question, rubric, status = self.collection_question(self.cfg, ref)
            self.rubric_status[question.id] = status
            return question, rubric
        question = self.book.question(ref)
        try:
            return question, self.rubrics[question.id]
        except KeyError:
            raise BadInput(f"{question.id} has no rubric yet, so it cannot be graded.") from None

    def grade(self, ref: str, answer: str) -> Grade:
        """Grade `answer` to question `ref` ("Q21", "q21", "21"). Raises BadInput if too long."""
        start = time.perf_counter()
        question, rubric = self.rubric(ref)
        if not isinstance(answer, str):
            raise BadInput("The answer must be text.")
        if len(answer) > self.cfg.max_answer_chars:
            raise BadInput(
                f"The answer is {len(answer):,} characters; the limit is "
                f"{self.cfg.max_answer_chars:,} (about 3,000 words). Shorten it and try again.",
                code="size_limit",
            )
        flags = self._input_flags(answer)
        content, removed = strip_injections(answer)
        if removed and "answer_injection" not in flags:
            flags.append("answer_injection")
        tokens = {"prompt": 0, "completion": 0}
        if not content.strip() or is_non_answer(content):
            nothing = PointSignals(0.0, 0.0, 0.0, 1.0, 0.0)
            marking = (tuple(PointGrade(p, "missed", "", 0.0, nothing) for p in rubric.points), ())
        else:
            marking = self._mark(question, rubric, content, tokens)
            if "answer_injection" in flags and content.strip() != answer.strip():
                # Also grade the full text; keep the lower so an undetected trick cannot help.
                unstripped = self._mark(question, rubric, answer, tokens)
                if _total(*unstripped, self.settings)[0] < _total(*marking, self.settings)[0]:
                    marking = unstripped
        return self._assemble(question, *marking, flags, start, tokens)

    def _mark(
        self, question: Question, rubric: Rubric, answer: str, tokens: dict
    ) -> tuple[tuple[PointGrade, ...], tuple[GradeError, ...]]:
        """The rubric points the text makes, and its substantive errors."""
        return self._score_points(rubric, answer, tokens), self._errors(question, answer)

    def _errors(self, question: Question, answer: str) -> tuple[GradeError, ...]:
        """Sentences that repeat a handbook error listed in corpus/errata.json.

        Other contradictions are not deducted: on the dev split the alignment rules flagged 8
        of 36 strong answers and none of 26 wrong ones (candidates paraphrase), and the 1.5B
        model's "does this contradict the fact?" scored strong answers highest of all levels.
        A wrong answer loses the credit of the points it gets wrong instead."""
        errata = [e for e in load_errata() if e.question == question.id]
        if not errata:
            return ()
        section = frozenset(terms(question.text))
        out = []
        for sentence in split_sentences(answer):
            repeated = next((e for e in errata if repeats_erratum(sentence, e, section)), None)
            if repeated is not None:
                detail = f"This repeats a known error of the handbook: {repeated.correction}"
                out.append(GradeError("erratum", sentence, detail))
        return tuple(out)

    def _input_flags(self, answer: str) -> list[str]:
        """The guard's flags that matter to a grade. `answer_injection` is decided by
        `strip_injections` (sentence by sentence, quotes read as examples), not here: the
        guard reads the whole answer and flagged 4 of 68 good dev answers."""
        verdict = guardrails.check_input(answer, context="interview", guards=self.guards)
        return [n for n in verdict.names if n in ("empty", "non_english")]

    # -- the signals ---------------------------------------------------------------------

    def _score_points(self, rubric: Rubric, answer: str, tokens: dict) -> tuple[PointGrade, ...]:
        sentences = split_sentences(answer) or [answer.strip()]
        units = _units(sentences)
        unit_vecs = self.embedder.embed(units)
        sims = self._rubric_vecs(rubric) @ unit_vecs.T  # (2 * points, units)
        n = len(rubric.points)
        per_point = np.maximum(sims[:n], sims[n:])  # the point or its handbook passage
        topic = float(per_point.max())
        answer_terms = set(tokenize(fold_math(answer)))
        best = per_point.max(axis=1)
        p_yes = self._llm_values(rubric, answer, best, tokens)
        out = []
        for i, point in enumerate(rubric.points):
            j = int(per_point[i].argmax())
            signals = PointSignals(
                cosine=round(float(per_point[i, j]), 4),
                keywords=round(_keyword_share(point, answer_terms), 4),
                p_yes=p_yes[i],
                list_like=list_likeness(units[j]),
                topic=round(topic, 4),
            )
            made, verdict = judge_point(signals, self.settings)
            evidence = units[j] if verdict != "missed" else ""
            out.append(PointGrade(point, verdict, _short(evidence), made, signals))
        return tuple(out)

    def _rubric_vecs(self, rubric: Rubric) -> np.ndarray:
        key = rubric.question
        if key not in self._point_vecs:
            texts = [p.point for p in rubric.points] + [p.source for p in rubric.points]
            self._point_vecs[key] = self.embedder.embed(texts)
        return self._point_vecs[key]

    def _llm_values(
        self, rubric: Rubric, answer: str, best_cosine: np.ndarray, tokens: dict
    ) -> list[float]:
        """Per point P(yes) from the logits where the backend exposes them (one short prefill
        per point), else from a schema call's verdict codes; 0 for points not asked."""
        asked = [bool(c >= self.settings.ask_min_cosine) for c in best_cosine]
        try:
            return self._llm_probabilities(rubric, answer, asked, tokens)
        except NotImplementedError:
            codes = self._llm_verdicts(self.book.question(rubric.question), rubric, answer, tokens)
            return [_VALUE[c] if a else 0.0 for c, a in zip(codes, asked, strict=True)]

    def _llm_probabilities(
        self, rubric: Rubric, answer: str, asked: list[bool], tokens: dict
    ) -> list[float]:
        system = {"role": "system", "content": prompts.render("grade", "check_system")}
        out = []
        fresh = True
        for point, ask in zip(rubric.points, asked, strict=True):
            if not ask:
                out.append(0.0)
                continue
            text = prompts.render("grade", "check_user", answer=answer.strip(), point=point.point)
            # Each grade starts from an empty cache, so the same answer gets the same numbers
            # whatever was graded before (a reused prefix shifts the logits slightly).
            out.append(round(self._yes(system, text, tokens, fresh=fresh), 4))
            fresh = False
        return out

    def _yes(self, system: dict, ask: str, tokens: dict, fresh: bool = False) -> float:
        messages = [system, {"role": "user", "content": ask}]
        tokens["logit_reads"] = tokens.get("logit_reads", 0) + 1
        return self.generator.choice_probabilities(messages, ("yes", "no"), fresh=fresh)["yes"]

    def _llm_verdicts(
        self, question: Question, rubric: Rubric, answer: str, tokens: dict
    ) -> list[str]:
        lines = [
            prompts.render("grade", "point", n=i, point=p.point, source=_short(p.source, 220))
            for i, p in enumerate(rubric.points, 1)
        ]
        messages = [
            {"role": "system", "content": prompts.render("grade", "system")},
            {
                "role": "user",
                "content": prompts.render(
                    "grade",
                    "user",
                    question=question.question,
                    points="\n".join(lines),
                    answer=answer.strip(),
                    count=len(lines),
                ),
            },
        ]
        n = len(rubric.points)
        reply = self.generator.complete(
            messages, max_tokens=12 + 6 * n, schema=verdict_schema(n), seed=_SEED
        )
        tokens["prompt"] += reply.prompt_tokens
        tokens["completion"] += reply.completion_tokens
        try:
            codes = [str(c) for c in json.loads(reply.text)["verdicts"]]
        except (ValueError, KeyError, TypeError):
            codes = []
        # A malformed reply leaves the semantic signal alone to decide ("missed" adds nothing).
        codes = [c if c in _VALUE else "missed" for c in codes][:n]
        return codes + ["missed"] * (n - len(codes))

    # -- assembling the grade --------------------------------------------------------------

    def _assemble(
        self,
        question: Question,
        points: tuple[PointGrade, ...],
        found: tuple[GradeError, ...],
        flags: list[str],
        start: float,
        tokens: dict,
    ) -> Grade:
        score, deductions = _total(points, found, self.settings)
        errors = tuple(guardrails.scrub_pii(e.message()) for e in found)
        status = self.rubric_status.get(question.id, "handbook")
        note = PROPOSED_NOTE if status == "proposed" else ""
        return Grade(
            question=question.id,
            score=score,
            points=tuple(replace(p, evidence=guardrails.scrub_pii(p.evidence)) for p in points),
            errors=errors,
            feedback=note + feedback(question, points, errors, flags, score, deductions),
            rubric=status,
            model_answer=model_answer(question),
            follow_up=follow_up(points),
            flags=tuple(f for f in guardrails.FLAGS if f in flags),
            deductions=deductions,
            found_errors=found,
            seconds=round(time.perf_counter() - start, 3),
            tokens=tokens,
        )


def _total(
    points: tuple[PointGrade, ...], errors: tuple[GradeError, ...], s: GradeSettings
) -> tuple[float, float]:
    """(score, deductions) of graded points and found errors: see `score_from`.

    >>> from coach.interview.rubrics import RubricPoint
    >>> pt = lambda w, v: PointGrade(RubricPoint("Q1.1", "p", w, "s", (), "f?"), v, "", 0,
    ...                              PointSignals(0, 0, 0, 0, 0))
    >>> _total((pt(0.6, "covered"), pt(0.4, "partial")), (), GradeSettings())
    (8.0, 0.0)
    >>> e = GradeError("contradiction", "x", "y")
    >>> _total((pt(0.6, "covered"), pt(0.4, "partial")), (e,), GradeSettings())
    (6.5, 1.5)
    >>> _total((pt(0.6, "covered"), pt(0.4, "covered")), (e, e), GradeSettings())
    (3.0, 7.0)
    """
    return score_from(sum(p.credit for p in points), len(errors), s)


def score_from(credits: float, n_errors: int, s: GradeSettings) -> tuple[float, float]:
    """(score, deductions): the points' credits minus the errors' deductions, clipped to 0-10;
    two or more errors cap the score at `errors_cap`. The deduction reported is what was taken.
    Pure, so stored signals replay to the same score (scripts/fit_grader.py).

    >>> score_from(8.0, 1, GradeSettings()), score_from(2.0, 2, GradeSettings())
    ((6.5, 1.5), (0.0, 2.0))
    """
    credits = round(credits, 2)
    score = credits - s.error_deduction * n_errors
    if n_errors >= 2:
        score = min(score, s.errors_cap)
    score = round(float(np.clip(score, 0.0, 10.0)), 1)
    return score, round(credits - score, 2)


def replay(signals: list[dict], weights: list[float], n_errors: int, s: GradeSettings) -> float:
    """The score a grade's stored signals give under settings `s` (eval reports keep them).

    >>> sig = {"cosine": 0.8, "keywords": 1.0, "p_yes": 0.95, "list_like": 0.0, "topic": 0.8}
    >>> replay([sig, {**sig, "cosine": 0.2, "p_yes": 0.0}], [0.6, 0.4], 0, GradeSettings())
    6.0
    """
    credits = sum(
        point_credit(weight, judge_point(PointSignals(**sig), s)[1])
        for sig, weight in zip(signals, weights, strict=True)
    )
    return score_from(credits, n_errors, s)[0]


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def feedback(
    question: Question,
    points: tuple[PointGrade, ...],
    errors: tuple[str, ...],
    flags: list[str],
    score: float,
    deductions: float = 0.0,
) -> str:
    """Concrete feedback from the verdicts: what landed, what to add, what to fix, what to read."""
    by = {v: [_clause(p) for p in points if p.verdict == v] for v in ("covered", "partial")}
    missed = [_clause(p) for p in points if p.verdict == "missed"]
    earned = round(sum(p.credit for p in points), 1)
    parts = [f"{score:.1f}/10" + (f" ({earned:.1f} for points, -{deductions:.1f} for errors)."
                                   if deductions else ".")]  # fmt: skip
    if not any(p.verdict != "missed" for p in points):
        parts.append("This answer does not address the question yet.")
    if by["covered"]:
        parts.append("You covered: " + "; ".join(by["covered"]) + ".")
    if by["partial"]:
        parts.append("Say more about: " + "; ".join(by["partial"]) + ".")
    if missed:
        parts.append("Missing: " + "; ".join(missed) + ".")
    if errors:
        parts.append("Fix: " + " ".join(errors))
    if "non_english" in flags:
        parts.append(
            "Note: the answer does not look like English. The coverage check uses an English-only"
            " model, so this grade may be too low; try answering in English."
        )
    if "answer_injection" in flags:
        parts.append(
            "Note: text addressed to the grader was ignored; only your technical content counts."
        )
    where = "in your material" if ":" in question.id else "for the handbook's answer"
    parts.append(f"Read [{question.id}] {question.title} {where}.")
    return " ".join(parts)


def _clause(p: PointGrade) -> str:
    """A rubric point as a clause of a sentence (feedback joins them with semicolons)."""
    return p.point.point.rstrip(". ")


def follow_up(points: tuple[PointGrade, ...]) -> str:
    """The interviewer's next probe: at the weakest point (ties: the heaviest)."""
    weakest = min(points, key=lambda p: (p.made, -p.point.weight))
    return weakest.point.follow_up


def model_answer(question: Question) -> str:
    """The handbook's own answer, cited, with the correction of any erratum inline."""
    tip = f"\n\n**{question.tip_label}:** {question.tip}" if question.tip else ""
    return annotate(f"{question.body.strip()}{tip}\n\n[{question.id}]", question.id)
