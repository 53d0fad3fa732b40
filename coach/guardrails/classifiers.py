"""Guard classifiers behind one-method interfaces, their deterministic fakes, and the factory.

Three scorers, each `score(text) -> float` in [0, 1]:
- injection: NanoGuard (16.8M-param classifier from `metatronnanoguard`);
- harmful:   logistic regression on MiniLM embeddings, trained at load time (~3 s) on
             corpus/guardrails/harmful_train.jsonl; embeddings can be cached in a directory;
- toxicity:  `profanity_check`'s linear SVM (lexical).
Constructors are cheap; models load on first `score` or in `warm_up()`, once per process via
`real_guards()`. Fakes are keyword scorers whose output can be checked by hand.
Leaves out: thresholds (config.py) and what a score means in a context (input_checks.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from coach.errors import SetupError

# Classifier inputs are cut to these lengths: NanoGuard truncates at 512 tokens anyway and
# MiniLM at 256 word pieces, so longer text only costs tokenizer time.
NANOGUARD_MAX_CHARS = 4_000
EMBED_MAX_CHARS = 2_000


class Scorer(Protocol):
    name: str

    def score(self, text: str) -> float:
        """Probability-like score in [0, 1] that `text` belongs to the positive class."""


def _missing(package: str, exc: ImportError) -> SetupError:
    return SetupError(
        f"The guardrail classifier package {package} is missing ({exc}). "
        "Install the project's dependencies: ./scripts/setup.sh"
    )


class NanoGuardScorer:
    """Prompt-injection probability from NanoGuard."""

    name = "nanoguard-0.1.0"

    def __init__(self) -> None:
        self._guard = None

    def warm_up(self) -> None:
        if self._guard is not None:
            return
        try:
            from nanoguard import NanoGuard
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise _missing("metatronnanoguard", exc) from exc
        self._guard = NanoGuard(device="cpu")

    def score(self, text: str) -> float:
        self.warm_up()
        return float(self._guard.scan(text[:NANOGUARD_MAX_CHARS]).injection_score)


class ProfanityScorer:
    """Toxicity probability from alt-profanity-check (a lexical SVM: it sees words, not intent)."""

    name = "alt-profanity-check-1.9.1"

    def __init__(self) -> None:
        self._predict = None

    def warm_up(self) -> None:
        if self._predict is not None:
            return
        try:
            from profanity_check import predict_prob
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise _missing("alt-profanity-check", exc) from exc
        self._predict = predict_prob

    def score(self, text: str) -> float:
        self.warm_up()
        return float(self._predict([text[:EMBED_MAX_CHARS]])[0])


def default_harm_train_path() -> Path:
    # corpus/ sits next to the coach package in the repo.
    return Path(__file__).resolve().parents[2] / "corpus" / "guardrails" / "harmful_train.jsonl"


def load_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class EmbeddingHarmScorer:
    """Harmful-request probability: logistic regression over sentence embeddings.

    Trained at load time instead of shipping a pickled model: the training set is reviewable
    text, training takes a few seconds, and nothing binary goes into git. With `cache_dir`
    (e.g. the index dir) the training embeddings are reused across processes.
    """

    def __init__(
        self,
        embedder=None,
        train_path: Path | None = None,
        cache_dir: Path | None = None,
        C: float = 4.0,
    ):
        self._embedder = embedder
        self.train_path = Path(train_path) if train_path else default_harm_train_path()
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.C = C
        self._model = None

    @property
    def name(self) -> str:
        return f"logreg-on-{getattr(self._embedder, 'name', 'minilm')}"

    def _train_vectors(self, texts: list[str]):
        import numpy as np

        if self.cache_dir is None:
            return self._embedder.embed(texts)
        key = hashlib.sha256(("\n".join(texts) + self._embedder.name).encode()).hexdigest()[:16]
        path = self.cache_dir / f"guard_harm_{key}.npy"
        if path.exists():
            return np.load(path)
        vecs = self._embedder.embed(texts)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(path, vecs)
        return vecs

    def warm_up(self) -> None:
        if self._model is not None:
            return
        if self._embedder is None:
            from coach.search import default_embedder

            self._embedder = default_embedder()
        try:
            rows = load_jsonl(self.train_path)
        except OSError as exc:
            raise SetupError(
                f"The harmful-request training data is missing at {self.train_path}. "
                "It ships with the repo: restore corpus/guardrails/harmful_train.jsonl"
            ) from exc
        from sklearn.linear_model import LogisticRegression

        vecs = self._train_vectors([r["text"] for r in rows])
        labels = [int(r["label"]) for r in rows]
        # Balanced weights: the two classes differ in size and we want 0.5 to mean "either way".
        model = LogisticRegression(C=self.C, class_weight="balanced", max_iter=1000)
        self._model = model.fit(vecs, labels)

    def score(self, text: str) -> float:
        self.warm_up()
        vec = self._embedder.embed([text[:EMBED_MAX_CHARS]])
        return float(self._model.predict_proba(vec)[0, 1])


class KeywordScorer:
    """Deterministic fake: `hit` if any trigger word occurs (case-insensitive), else `miss`.

    >>> fake = KeywordScorer("fake", ("bomb",))
    >>> fake.score("How to make a BOMB"), fake.score("How to make a cake")
    (0.99, 0.01)
    """

    def __init__(self, name: str, triggers: tuple[str, ...], hit: float = 0.99, miss: float = 0.01):
        self.name = name
        self.triggers = tuple(t.lower() for t in triggers)
        self.hit, self.miss = hit, miss
        self.calls = 0  # lets tests check that an expensive scorer was (not) consulted

    def score(self, text: str) -> float:
        self.calls += 1
        low = text.lower()
        return self.hit if any(t in low for t in self.triggers) else self.miss


@dataclass(frozen=True)
class Guards:
    """The set of classifiers one guard pass uses."""

    injection: Scorer
    harmful: Scorer
    toxicity: Scorer

    def warm_up(self) -> None:
        for scorer in (self.injection, self.harmful, self.toxicity):
            if hasattr(scorer, "warm_up"):
                scorer.warm_up()


def fake_guards() -> Guards:
    """Keyword fakes for unit tests: 'sneaky' reads as injection, 'anthrax' as harmful."""
    return Guards(
        injection=KeywordScorer("fake-injection", ("sneaky",)),
        harmful=KeywordScorer("fake-harmful", ("anthrax",)),
        toxicity=KeywordScorer("fake-toxicity", ("idiot",)),
    )


@lru_cache(maxsize=4)
def real_guards(cache_dir: str | None = None) -> Guards:
    """The product's classifiers, built once per process (and per cache dir)."""
    return Guards(
        injection=NanoGuardScorer(),
        harmful=EmbeddingHarmScorer(cache_dir=Path(cache_dir) if cache_dir else None),
        toxicity=ProfanityScorer(),
    )


class UsesGuards:
    """A mixin for classes given guards (tests: fakes) or else using the real ones, built on
    first use so that constructing them stays cheap."""

    _guards: Guards | None = None

    @property
    def guards(self) -> Guards:
        if self._guards is None:
            self._guards = real_guards()
        return self._guards
