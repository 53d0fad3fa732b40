"""The scope decision: does the handbook cover this query?

One decision shared by search, answers and evals. The score is a logistic regression over five
cheap signals, all computed during hybrid search from vectors the index already holds:

- `chunk_cos`: the best cosine between the query and a handbook chunk (MiniLM);
- `syn_cos`: the best cosine to a synthetic question written for a chunk (doc2query rows);
- `neg_cos`: the best cosine to a hand-written out-of-scope question
  (`corpus/scope_negatives.jsonl`: near-domain LLM-engineering questions the handbook does not
  answer, e.g. KV cache, FlashAttention, GGUF, DPO, plus a few off-topic ones);
- `coverage`: the share of the query's terms that occur in the handbook at all, after typo
  correction (coach/search/spell.py), so "sentance prediciton" counts as covered;
- `rare`: the share of the query's words unknown to the handbook, to English (the embedder's
  word list) and to the speller (coach/search/spell.py), i.e. names like "PagedAttention" or "GGUF".

The model is fitted by `python -m coach.search.training.scope_fit` on separate training data, never
on the golden set: positives are the synthetic questions (corpus/synthetic_questions.jsonl), each
also with one deterministic typo, negatives the hand-written file above, each feature computed
leave-one-out (a question never meets its own vector), after dropping any training question that
overlaps a golden query (5-gram Jaccard >= 0.5 or cosine >= 0.9). Only the threshold is chosen on
the golden dev split: the score of the third lowest in-scope dev query, so 2 of 131 (1.5%) are
flagged, a margin under the 3% budget. Coefficients and threshold live in `corpus/scope_model.json`,
read on first use (not at import): a missing or broken file is a SetupError naming the fix, never a
fallback score or threshold (a fallback would quietly answer every query as in scope).

Every route tried, golden dev split (131 in scope, 30 not): ROC AUC, and the share of
out-of-scope queries flagged when the threshold flags 2 / 3 in-scope queries (1.5% / 2.3%):

| signal | AUC | OOS flagged |
|---|---|---|
| chunk cosine | 0.871 | 0.17 / 0.23 |
| synthetic-question cosine | 0.832 | 0.10 / 0.10 |
| negative-question cosine (lower is in scope) | 0.826 | 0.53 / 0.53 |
| BM25 max (chunk text only) | 0.892 | 0.13 / 0.43 |
| coverage (as typed) | 0.837 | 0.17 / 0.33 |
| rare-word share | 0.766 | 0.23 / 0.27 |
| old default: chunk_cos + 0.3*coverage + 0.01*bm25_max | 0.935 | 0.23 / 0.53 |
| max(chunk, synthetic cosine) - negative cosine | 0.951 | 0.63 / 0.67 |
| LR chunk+syn+bm25+coverage+rare (no negatives) | 0.931 | 0.33 / 0.47 |
| LR chunk+syn+neg+bm25+coverage+rare | 0.966 | 0.60 / 0.70 |
| LR chunk+neg+bm25+coverage | 0.957 | 0.63 / 0.63 |
| LR chunk+syn+neg+coverage+rare, C=1 | 0.968 | 0.83 / 0.87 |
| same, C=0.1 / C=10 | 0.968 / 0.966 | 0.80 / 0.83, 0.87 / 0.87 |
| same + keyword-style copies of positives and negatives | 0.970 | 0.83 / 0.87 |
| same + typo copies of the positives | 0.971 | 0.87 / 0.90 |
| same + keyword and typo copies | 0.972 | 0.83 / 0.90 |
| **+ typo copies, coverage after typo correction (the default)** | 0.976 | 0.90 / 0.90 |

The threshold flags 2 in-scope dev queries (1.5%, both typo/acronym queries: "IA3 what does
it train", "atention weights calcualtion") and 27 of 30 out-of-scope ones (90%). Caveat: the
negatives were written from the same list of near-domain topics the golden set's README names
(KV cache, FlashAttention, GGUF, DPO, ...), so topics nobody wrote a negative for rely on the
other four signals; 15 written questions that overlapped golden queries were dropped, then 10
more with cosine >= 0.8 to any golden query (both splits), after which the model was refitted
(dev unchanged at 90% / 1.5%).

BM25 hurts the combination: LLM-written questions reuse the handbook's wording far more than
people do, so its training distribution differs from real queries. Leaves out: refusal wording
(coach/ask/pipeline.py) and the model's own abstention, the second layer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from coach.config import CORPUS_DIR
from coach.errors import SetupError, read_setup_json

FEATURES = ("chunk_cos", "syn_cos", "neg_cos", "coverage", "rare")
SIGNAL = "logistic regression over " + ", ".join(FEATURES) + " (corpus/scope_model.json)"
MODEL_PATH = CORPUS_DIR / "scope_model.json"
NEGATIVES_PATH = MODEL_PATH.with_name("scope_negatives.jsonl")
FIX = (
    "restore corpus/scope_model.json (git checkout -- corpus/scope_model.json) "
    "or run python -m coach.search.training.scope_fit"
)


def load_model(path: Path) -> dict:
    """Read and check a scope model file; a missing or broken one is a SetupError, never a
    fallback (without it every query would be answered as in scope)."""
    why = ": without it out-of-scope questions cannot be refused"
    return read_setup_json(path, "the scope model", FIX, check=_check_params, why=why)


def _check_params(p: object) -> None:
    """Raise KeyError/TypeError/ValueError unless p is a complete, finite scope model.

    >>> _check_params({"features": list(FEATURES), "mean": [0] * 5, "scale": [1] * 5,
    ...                "coef": [1] * 5, "intercept": 0.0, "threshold": -1.0})
    >>> _check_params({"features": list(FEATURES)})
    Traceback (most recent call last):
    ...
    KeyError: 'mean'
    """
    if not isinstance(p, dict):
        raise TypeError("expected a JSON object")
    if list(p["features"]) != list(FEATURES):
        raise ValueError(f"features must be {list(FEATURES)}, not {p['features']}")
    for key in ("mean", "scale", "coef"):
        values = [float(v) for v in p[key]]
        if len(values) != len(FEATURES) or not all(math.isfinite(v) for v in values):
            raise ValueError(f"{key} must be {len(FEATURES)} finite numbers")
    if any(float(v) <= 0 for v in p["scale"]):
        raise ValueError("scale must be positive")
    for key in ("intercept", "threshold"):
        if isinstance(p[key], bool) or not math.isfinite(float(p[key])):
            raise ValueError(f"{key} must be a finite number")
    block = p.get("answerability")
    if block is not None:
        for key in ("weight", "threshold"):
            if isinstance(block[key], bool) or not math.isfinite(float(block[key])):
                raise ValueError(f"answerability.{key} must be a finite number")


@lru_cache(maxsize=1)
def model() -> dict:
    """The fitted model, read once per process on first use (never at import):
    {"features", "mean", "scale", "coef", "intercept", "threshold", ...}."""
    return load_model(MODEL_PATH)


def threshold() -> float:
    """The fitted threshold on the scope score (a SetupError when the model is missing)."""
    return float(model()["threshold"])


def load_negatives(path: Path = NEGATIVES_PATH) -> list[str]:
    """The hand-written out-of-scope questions (the scope model's negatives). A missing or
    broken file is a SetupError: without it the `neg_cos` signal would silently read 0."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [str(json.loads(line)["text"]) for line in lines if line.strip()]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise SetupError(
            f"The scope negatives {path} are missing or broken ({exc!r}). Fix: restore them "
            "(git checkout -- corpus/scope_negatives.jsonl)"
        ) from exc


@dataclass(frozen=True)
class ScopeDecision:
    in_scope: bool
    score: float


def scope_score(feats: Mapping[str, float], params: Mapping | None = None) -> float:
    """The logistic regression's log-odds that the query is in scope.

    >>> p = {"features": ["a", "b"], "mean": [0, 1], "scale": [1, 2], "coef": [1, -1],
    ...      "intercept": 0.5}
    >>> scope_score({"a": 2.0, "b": 3.0}, p)
    1.5
    """
    p = model() if params is None else params
    z = p["intercept"]
    for name, mu, sd, w in zip(p["features"], p["mean"], p["scale"], p["coef"], strict=True):
        z += w * (feats[name] - mu) / sd
    return float(z)


def coverage(terms: list[str], vocabulary: set[str]) -> float:
    """Share of query terms (compounds' parts, not the compounds) known to the handbook.

    >>> coverage(["lora", "pagedattention", "top-p", "top", "p"], {"lora", "top", "p"})
    0.75
    >>> coverage([], {"x"})
    0.0
    """
    plain = [t for t in terms if "-" not in t]
    return sum(t in vocabulary for t in plain) / len(plain) if plain else 0.0


def rare_share(words: Iterable[str], is_rare) -> float:
    """Share of words for which is_rare(word) holds.

    >>> rare_share(["what", "is", "GGUF"], lambda w: w == "GGUF")
    0.3333333333333333
    >>> rare_share([], bool)
    0.0
    """
    words = list(words)
    return sum(bool(is_rare(w)) for w in words) / len(words) if words else 0.0


def with_answerability(score: float, answerability: float | None, params: Mapping | None = None):
    """(score, threshold) of the decision: the five-signal score alone, or, when the reranker
    read the query's top sections and the model has an "answerability" block, the score plus
    `weight` x logit(the reranker's best probability), against that block's threshold.

    >>> p = {"threshold": -1.0, "answerability": {"weight": 0.5, "threshold": 0.0}}
    >>> with_answerability(1.0, None, p), with_answerability(1.0, 0.5, p)
    ((1.0, -1.0), (1.0, 0.0))
    """
    p = model() if params is None else params
    block = p.get("answerability")
    if answerability is None or not block:
        return score, float(p["threshold"])
    return score + block["weight"] * logit(answerability), float(block["threshold"])


def logit(p: float) -> float:
    """log(p / (1 - p)), with p kept off 0 and 1 (a reranker can be certain).

    >>> logit(0.5), round(logit(1.0), 2)
    (0.0, 9.21)
    """
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def uses_answerability() -> bool:
    return bool(model().get("answerability"))


def decide(
    score: float, threshold: float | None = None, answerability: float | None = None
) -> ScopeDecision:
    """
    >>> decide(0.9, threshold=0.5).in_scope, decide(0.3, threshold=0.5).in_scope
    (True, False)
    """
    if threshold is not None and answerability is None:
        return ScopeDecision(score >= threshold, score)
    score, cut = with_answerability(score, answerability)
    cut = cut if threshold is None else threshold
    return ScopeDecision(score >= cut, score)
