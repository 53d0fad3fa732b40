"""The faithfulness judge: is every sentence of an answer backed by the named handbook sections
(or sections of the user's collections, `notes:s12`)?

Per sentence, two signals:
- P(supported) from the local LLM: one yes/no question per sentence against its closest source
  sentences, with short domain few-shot turns (prompts/judge.yaml), read from the next-token
  logits (a graded probability; a schema-enforced verdict from the 1.5B model said "supported"
  to 95% of the dev set's unsupported sentences, AUC 0.53);
- the deterministic support score (support.py: lexical + semantic overlap, unsupported numbers
  penalised), which catches swapped numbers and formulas the small model reads past.
Tried and dropped on the dev split: capping a sentence that breaks an alignment rule (align.py:
reordered terms, a flipped negation, an added direction word) lowered the AUC from 0.843 to
0.699, because free paraphrases break the same rules (evals/judge/README.md).

sentence score = llm_share * P(supported) + (1 - llm_share) * support; a sentence is supported
when its score reaches `sentence_threshold`; the answer's faithfulness mixes the mean and the
minimum sentence score (`min_share`), and the answer counts as supported when every sentence
is. The settings are chosen on the judge set's dev split (evals/judge/README.md); every
faithfulness figure this judge produces in an eval carries its measured test-split AUC.
Leaves out: ragas (evals/ragas_judge.py keeps its number beside ours).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from coach.ask.support import split_sentences, support_scores
from coach.config import Config
from coach.errors import BadInput
from coach.handbook import load_handbook
from coach.llm import UsesGenerator, prompts
from coach.search import Embedder, default_embedder
from coach.sources import check_name, list_collections, load_sections

if TYPE_CHECKING:
    from coach.llm import Generator

JUDGE_VERSION = "coach-judge-2"
MAX_SENTENCES = 12
EVIDENCE = 4  # source sentences shown per statement


@dataclass(frozen=True)
class JudgeSettings:
    """Chosen on the judge set's dev split (grid in the dev report; evals/judge/README.md)."""

    llm_share: float = 0.6  # weight of P(supported) from the model against the support score
    sentence_threshold: float = 0.7  # a sentence below this is flagged unsupported (dev grid)
    min_share: float = 1.0  # 1.0: the answer is as faithful as its weakest sentence


@dataclass(frozen=True)
class SentenceVerdict:
    text: str
    supported: bool
    score: float
    llm: float | None
    support: float

    def to_json(self) -> dict:
        return {"text": self.text, "supported": self.supported, "score": self.score}


@dataclass(frozen=True)
class Judgement:
    faithfulness: float
    supported: bool
    sentences: tuple[SentenceVerdict, ...]
    judge: str

    def to_json(self) -> dict:
        return {
            "faithfulness": self.faithfulness,
            "supported": self.supported,
            "sentences": [s.to_json() for s in self.sentences],
            "judge": self.judge,
        }


class Judge(UsesGenerator):
    def __init__(
        self,
        cfg: Config,
        *,
        generator: Generator | None = None,
        embedder: Embedder | None = None,
        settings: JudgeSettings | None = None,
        use_llm: bool = True,
    ):
        self.cfg = cfg
        self._generator = generator
        self.embedder = embedder or default_embedder()
        self.settings = settings or JudgeSettings()
        self.use_llm = use_llm
        self.book = load_handbook()
        self._sections: dict[str, dict[str, str]] = {}  # collection -> section id -> text

    @property
    def name(self) -> str:
        model = getattr(self._generator, "name", None) or self.cfg.model
        llm = f"+{model}" if self.use_llm else ""
        return f"{JUDGE_VERSION} (support score{llm})"

    def warm_up(self) -> None:
        self.embedder.embed(["warm up"])
        if self.use_llm:
            self.generator.warm_up()

    def passages(self, source_ids: list[str]) -> list[str]:
        """The named sections' text: handbook ids ("Q17", "handbook:Q17") or a collection's
        ("notes:s12")."""
        if not source_ids:
            raise BadInput('"sources" must name at least one handbook section, e.g. ["Q17"].')
        return [self._passage(ref) for ref in source_ids]

    def _passage(self, ref: str) -> str:
        name, sep, local = ref.partition(":")
        if not sep or name == "handbook":
            return self.book.section(local if sep else ref).to_markdown()
        if name not in self._sections:
            check_name(name)
            if not any(c.name == name for c in list_collections(self.cfg)):
                raise BadInput(
                    f"{ref!r}: there is no collection named {name!r} (coach collections)."
                )
            self._sections[name] = {s.id: s.text for s in load_sections(self.cfg, name)}
        if local not in self._sections[name]:
            raise BadInput(f"{ref!r}: collection {name!r} has no section {local!r}.")
        return self._sections[name][local]

    def judge(self, answer: str, source_ids: list[str]) -> Judgement:
        """Judge `answer` against the handbook sections `source_ids` ("Q17", "P3")."""
        if not isinstance(answer, str) or len(answer) > self.cfg.max_answer_chars:
            raise BadInput(
                f"The answer must be text of at most {self.cfg.max_answer_chars:,} characters.",
                code="size_limit",
            )
        sentences = split_sentences(answer)[:MAX_SENTENCES]
        if not sentences:
            raise BadInput("The answer has no sentences to judge.", code="empty")
        return self.judge_sentences(sentences, source_ids)

    def judge_sentences(self, sentences: list[str], source_ids: list[str]) -> Judgement:
        return self.judge_against(sentences, self.passages(source_ids))

    def judge_against(self, sentences: list[str], passages: list[str]) -> Judgement:
        """Judge sentences against passage texts (the answer eval passes what the model saw)."""
        support, llm = self.signals(sentences, passages)
        return combine(sentences, support, llm, self.settings, self.name)

    def signals(
        self, sentences: list[str], passages: list[str]
    ) -> tuple[list[float], list[float] | None]:
        """The two raw signals per sentence (the judge eval caches them to replay tuning)."""
        support = support_scores(sentences, passages, self.embedder)
        llm = None
        if self.use_llm:
            try:
                llm = self.llm_scores(sentences, passages)
            except NotImplementedError:
                # A backend without logits (an OpenAI-compatible server): the support score
                # alone decides, and the judge's name says so.
                self.use_llm = False
        return support, llm

    def llm_scores(self, sentences: list[str], passages: list[str]) -> list[float]:
        """P(supported) per sentence: one yes/no question per sentence, read from the logits.

        Each sentence is checked against its closest source sentences only (`EVIDENCE`), which
        keeps every prompt short and the comparison narrow enough for a small model.
        """
        source = [s for p in passages for s in split_sentences(p)]
        vectors = self.embedder.embed([*sentences, *source])
        sims = vectors[: len(sentences)] @ vectors[len(sentences) :].T
        shots = []
        for i in (1, 2, 3, 4):
            shots.append({"role": "user", "content": prompts.render("judge", f"shot{i}_user")})
            shots.append(
                {"role": "assistant", "content": prompts.render("judge", f"shot{i}_assistant")}
            )
        system = [{"role": "system", "content": prompts.render("judge", "system")}]
        scores = []
        for i, sentence in enumerate(sentences):
            best = sorted(np.argsort(-sims[i])[:EVIDENCE])  # closest, in handbook order
            evidence = "\n".join(source[j] for j in best)
            ask = prompts.render("judge", "user", evidence=evidence, statement=sentence)
            messages = [*system, *shots, {"role": "user", "content": ask}]
            probs = self.generator.choice_probabilities(messages, ("yes", "no"))
            scores.append(round(probs["yes"], 4))
        return scores


def combine(
    sentences: list[str],
    support: list[float],
    llm: list[float] | None,
    settings: JudgeSettings,
    name: str,
) -> Judgement:
    """Mix the two signals per sentence (pure, so the dev-split tuning can replay it).

    >>> j = combine(["a.", "b."], [0.9, 0.4], [1.0, 0.0], JudgeSettings(0.5, 0.5, 0.0), "t")
    >>> j.faithfulness, j.supported, [s.supported for s in j.sentences]
    (0.575, False, [True, False])
    """
    verdicts = []
    for i, (text, sup) in enumerate(zip(sentences, support, strict=True)):
        p = llm[i] if llm else None
        score = sup if p is None else settings.llm_share * p + (1 - settings.llm_share) * sup
        score = round(score, 4)
        verdicts.append(SentenceVerdict(text, score >= settings.sentence_threshold, score, p, sup))
    scores = [v.score for v in verdicts]
    mean = sum(scores) / len(scores)
    # min_share: how much the weakest sentence pulls the answer down (one bad sentence in
    # four is the typical unfaithful answer, and a plain mean hides it).
    faithfulness = round((1 - settings.min_share) * mean + settings.min_share * min(scores), 4)
    return Judgement(faithfulness, all(v.supported for v in verdicts), tuple(verdicts), name)
