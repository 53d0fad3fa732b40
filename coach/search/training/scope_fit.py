"""Fit the scope model (coach/search/scope.py) and write `corpus/scope_model.json`.

Run `python -m coach.search.training.scope_fit` after changing the synthetic questions, the
negatives (`corpus/scope_negatives.jsonl`), the embedder or the scope features; it rebuilds the
index if it is stale. Deterministic: the same data gives the same coefficients.

- Training data, never the golden set: positives are the synthetic questions that the overlap
  check keeps (corpus/synthetic_questions.jsonl, decontaminated when written), each also with one
  typo (`with_typo`); negatives are the hand-written out-of-scope questions minus any that overlap a
  golden query (5-gram Jaccard >= 0.5 or MiniLM cosine >= 0.9, coach/evals/overlap.py). Each feature
  is computed leave-one-out: a synthetic question never meets its own doc2query row, a negative
  never meets its own vector.
- Model: scikit-learn's L2 logistic regression (C=1, lbfgs, balanced class weights) on
  standardised features.
- Threshold: the only thing taken from the golden set, its **dev** split: the score of the
  (k+1)-th lowest in-scope dev query, k = floor(2% of them), so k in-scope dev queries are
  flagged (2 of 131, 1.5%): a margin under the 3% budget.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import sys

import numpy as np

from coach.config import load_config
from coach.evals import load_rows, overlapping, roc_auc
from coach.search import scope
from coach.search.scope import load_negatives
from coach.search.synthetic import load_synthetic, synthetic_by_chunk
from coach.search.training.labels import held_for_scope

C = 1.0
IN_SCOPE_FLAG_SHARE = 0.02


def with_typo(text: str) -> str:
    """The text with one letter dropped or two swapped in one word of 5+ letters, chosen by a
    generator seeded from the text (deterministic). Real users make typos; the synthetic
    questions never do, and coverage would otherwise learn that any unknown word means "out".

    >>> with_typo("What is attention for?") != "What is attention for?"
    True
    >>> with_typo("a b c")
    'a b c'
    """
    rng = random.Random(hashlib.sha256(text.encode()).hexdigest())
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long:
        return text
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    words[i] = (
        w[:j] + w[j + 1 :] if rng.random() < 0.5 else w[: j - 1] + w[j] + w[j - 1] + w[j + 1 :]
    )
    return " ".join(words)


def training_features(searcher) -> tuple[list[dict], list[dict], dict]:
    """(positive features, negative features, counts) with leave-one-out similarities; each
    feature dict carries its question under "text" (not a feature)."""
    idx = searcher.warm_up()
    emb = searcher.embedder
    # The dense rows after the chunks are the synthetic questions, in this order (index.build).
    extra = synthetic_by_chunk(load_synthetic())
    syn = [q for c in idx.chunks for q in extra.get(c.id, [])]
    if len(idx.chunks) + len(syn) != len(idx.vectors):
        raise RuntimeError("the index's doc2query rows do not match the synthetic questions")
    negatives = load_negatives()
    golden = [r["user_input"] for r in load_rows("retrieval/golden.jsonl")]
    neg_vecs = emb.embed(negatives)
    found = overlapping(negatives, golden, neg_vecs, emb.embed(golden))
    bad = {f["candidate"] for f in found}
    n = len(idx.chunks)
    syn_vecs = idx.vectors[n:]
    pos = []
    for i, (text, qv) in enumerate(zip(syn, syn_vecs, strict=True)):
        query = searcher.prepare(text, qv)
        pos.append(
            {**searcher.scope_features(query, idx.vectors @ qv, skip_row=n + i), "text": text}
        )
    # The same questions with a typo each, still never meeting their own row.
    typos = [with_typo(t) for t in syn]
    for i, (text, qv) in enumerate(zip(typos, emb.embed(typos), strict=True)):
        query = searcher.prepare(text, qv)
        pos.append(
            {**searcher.scope_features(query, idx.vectors @ qv, skip_row=n + i), "text": text}
        )
    neg = []
    for j, (text, qv) in enumerate(zip(negatives, neg_vecs, strict=True)):
        if text not in bad:
            query = searcher.prepare(text, qv)
            feats = searcher.scope_features(query, idx.vectors @ qv, skip_negative=j)
            neg.append({**feats, "text": text})
    counts = {
        "positives": len(pos),
        "negatives": len(neg),
        "negatives_dropped_for_overlap": len(found),
    }
    return pos, neg, counts


def feature_row(searcher, text: str) -> dict[str, float]:
    """The scope features of one query, exactly as `Searcher.signals` computes them."""
    query = searcher.prepare(text)
    return searcher.scope_features(query, searcher.row_similarities(query))


def fit(pos: list[dict], neg: list[dict], c: float = C) -> dict:
    """Standardise, fit, and return the model parameters (no threshold yet)."""
    from sklearn.linear_model import LogisticRegression

    names = list(scope.FEATURES)
    x = np.array([[f[k] for k in names] for f in pos + neg], dtype=np.float64)
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
    lr.fit((x - mean) / scale, y)
    return {
        "features": names,
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "coef": [round(float(v), 6) for v in lr.coef_[0]],
        "intercept": round(float(lr.intercept_[0]), 6),
        "C": c,
    }


def choose_threshold(in_scope_scores: list[float], share: float = IN_SCOPE_FLAG_SHARE) -> float:
    """The score of the (k+1)-th lowest in-scope query, k = floor(share * n): flags k of them.

    >>> choose_threshold([0.5, 0.1, 0.9, 0.3] * 25)  # 100 queries: 2 flagged
    0.1
    >>> choose_threshold([0.5, 0.1, 0.9], 0.02)
    0.1
    """
    ordered = sorted(in_scope_scores)
    k = math.floor(share * len(ordered))
    return ordered[k]


def dev_summary(ins: list[float], outs: list[float], threshold: float) -> dict:
    return {
        "in_scope": len(ins),
        "out_of_scope": len(outs),
        "in_scope_flagged": round(sum(s < threshold for s in ins) / len(ins), 4),
        "out_of_scope_flagged": round(sum(s < threshold for s in outs) / len(outs), 4),
        "auc": round(roc_auc(ins, outs), 4),
    }


def answerability_weight(pos: list[dict], neg: list[dict], base: dict, answer) -> dict:
    """Stack the reranker's answerability on the five-signal score: a two-feature logistic
    regression (the score, logit of the best reranker probability) on the training questions,
    with only the out-of-scope ones the reranker never trained on (labels.held_for_scope). The
    weight is the ratio of the two coefficients, so the score keeps its scale."""
    from sklearn.linear_model import LogisticRegression

    held = [f for f in neg if held_for_scope(f["text"])]
    rows = [(f, 1) for f in pos] + [(f, 0) for f in held]
    x = np.array(
        [[scope.scope_score(f, base), scope.logit(answer(f["text"]))] for f, _ in rows],
        dtype=np.float64,
    )
    y = np.array([label for _, label in rows])
    lr = LogisticRegression(C=C, class_weight="balanced", max_iter=1000).fit(x, y)
    a, b = lr.coef_[0]
    return {"weight": round(float(b / a), 6), "positives": len(pos), "negatives": len(held)}


def main() -> int:
    from coach.search import rerank
    from coach.search.searcher import Searcher

    cfg = load_config()
    searcher = Searcher(cfg, use_reranker=False)
    pos, neg, counts = training_features(searcher)
    params = fit(pos, neg)
    dev = load_rows("retrieval/golden.jsonl", "dev")
    # The features search computes, scored by the new params: the old model file is not read
    # (it may be the missing or broken file this run is replacing).
    base = [
        (row, scope.scope_score(feature_row(searcher, row["user_input"]), params)) for row in dev
    ]
    ins = [s for row, s in base if row["in_scope"]]
    outs = [s for row, s in base if not row["in_scope"]]
    threshold = choose_threshold(ins)
    params["threshold"] = round(threshold, 6)
    params["training"] = counts
    params["dev"] = dev_summary(ins, outs, threshold)
    params["_doc"] = (
        "Written by python -m coach.search.training.scope_fit; see coach/search/scope.py."
    )
    scope.MODEL_PATH.write_text(json.dumps(params, indent=2) + "\n")
    scope.model.cache_clear()  # search reads the five-signal model while the stack is fitted
    if rerank.defaults().get("use_reranker"):
        searcher.reranker = rerank.load_default(cfg, searcher.index)
        answer = lambda text: searcher.answerability(text)  # noqa: E731
        block = answerability_weight(pos, neg, params, answer)
        combined = [
            (row, scope.with_answerability(s, answer(row["user_input"]), {**params,
             "answerability": {**block, "threshold": 0.0}})[0])
            for row, s in base
        ]  # fmt: skip
        ins = [s for row, s in combined if row["in_scope"]]
        outs = [s for row, s in combined if not row["in_scope"]]
        block["threshold"] = round(choose_threshold(ins), 6)
        block["dev"] = dev_summary(ins, outs, block["threshold"])
        params["answerability"] = block
        scope.MODEL_PATH.write_text(json.dumps(params, indent=2) + "\n")
        scope.model.cache_clear()
    keys = ("training", "dev", "threshold", "answerability")
    json.dump({k: params[k] for k in keys if k in params}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
