"""Grading eval: does the grader agree with human graders, order answers of known quality,
stay stable, and resist injection?

Datasets (frozen, dev/test split by question): evals/grading/human.jsonl, answers by an
independent author graded 0-10 by two independent graders following evals/grading/GUIDE.md
(strong, partial, vague-on-topic, wrong, off-topic, keyword-stuffed, padded); evals/grading/
errata.jsonl, pairs of answers that differ only in stating a handbook error or its correction,
also graded by two graders; evals/grading/set.jsonl, per question four plain answers of known
quality (strong 3, partial 2, wrong 1, off-topic or empty 0), plus injected twins of some plain
answers (`base` names the twin) and legitimate answers *about* injection.

Agreement is measured as the literature does: quadratic-weighted kappa (scores rounded to
integers) and Spearman against the two graders' mean, with the partly correct answers as their
own slice and the graders' agreement with each other as the ceiling. Also: the mean score per
level, every erratum pair (the correction must never score below the error), latency by answer
length.

Metrics: Spearman between score and quality; the share of same-question pairs of different
quality ordered correctly (a tie counts as wrong); score spread per level; repeat stability (a
re-grade later in the run, after other prompts have changed the model's cache); the injection
effect (injected score minus its twin's; never positive is the target); grading latency.
`--limit N` grades the rows of about N/4 questions, spread over the handbook's parts.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import defaultdict
from itertools import combinations

from coach.config import Config
from coach.evals.common import finish, load_rows, percentile, stratified_sample

DATASET = "grading/set.jsonl"
HUMAN = "grading/human.jsonl"
ERRATA = "grading/errata.jsonl"
# Injected answers written after the injection defences were built, by someone who never saw
# them, on test-split answers that had no injected twin: the clean measure of injection.
HOLDOUT = "grading/injection_holdout.jsonl"
LEVELS = ("strong", "partial", "wrong", "off_topic")
REPEATS_FULL = 40  # rows re-graded later in the run, to check the score does not move
REPEATS_LIMITED = 12


def _sample(rows: list[dict], limit: int | None) -> list[dict]:
    if limit is None:
        return rows
    # Questions with injected answers first in each part, so a reduced run measures injection too.
    injected = {r["question"] for r in rows if r["kind"] == "injection"}
    questions = sorted({r["question"] for r in rows}, key=lambda q: (q not in injected, q))
    from coach.handbook import load_handbook

    part = {q.id: q.part for q in load_handbook().questions}
    wanted = max(1, math.ceil(limit / len(LEVELS)))
    chosen = stratified_sample(
        [{"question": q, "part": part[q]} for q in questions], wanted, key=lambda r: r["part"]
    )
    keep = {c["question"] for c in chosen}
    return [r for r in rows if r["question"] in keep]


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties).

    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40]), spearman([1, 2, 3], [3, 2, 1])
    (1.0, -1.0)
    """
    from scipy.stats import spearmanr

    value = spearmanr(xs, ys).statistic
    return 0.0 if value != value else round(float(value), 4)  # NaN when one side is constant


def ordered_pairs(rows: list[dict], scores: dict[str, float]) -> dict:
    """Same-question pairs of different quality: how many the scores order correctly."""
    by_q: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_q[r["question"]].append(r)
    right = ties = total = 0
    wrong: list[list[str]] = []
    for group in by_q.values():
        for a, b in combinations(group, 2):
            if a["quality"] == b["quality"]:
                continue
            hi, lo = (a, b) if a["quality"] > b["quality"] else (b, a)
            total += 1
            if scores[hi["id"]] > scores[lo["id"]]:
                right += 1
            else:
                ties += scores[hi["id"]] == scores[lo["id"]]
                wrong.append([hi["id"], lo["id"]])
    return {
        "pairs": total,
        "correct": right,
        "share": round(right / total, 4) if total else 0.0,
        "ties": ties,
        "misordered": wrong,
    }


def quadratic_kappa(a: list[int], b: list[int], k: int = 11) -> float:
    """Cohen's kappa with quadratic weights over the scores 0..k-1.

    >>> quadratic_kappa([0, 5, 10], [0, 5, 10]), quadratic_kappa([0, 10], [10, 0])
    (1.0, -1.0)
    """
    import numpy as np

    o = np.zeros((k, k))
    for x, y in zip(a, b, strict=True):
        o[x, y] += 1
    w = np.array([[(i - j) ** 2 / (k - 1) ** 2 for j in range(k)] for i in range(k)])
    e = np.outer(o.sum(1), o.sum(0)) / o.sum()
    denominator = (w * e).sum()
    return round(float(1 - (w * o).sum() / denominator), 4) if denominator else 0.0


def agreement(rows: list[dict], scores: dict[str, float]) -> dict:
    """The grader against the human mean, and the two humans against each other (ceiling)."""
    if not rows:
        return {"n": 0}
    ours = [int(round(scores[r["id"]])) for r in rows]
    human = [int(round(r["human_mean"])) for r in rows]
    a = [r["human_scores"][0] for r in rows]
    b = [r["human_scores"][1] for r in rows]
    return {
        "n": len(rows),
        "qwk": quadratic_kappa(ours, human),
        "spearman": spearman([scores[r["id"]] for r in rows], [r["human_mean"] for r in rows]),
        "mean_abs_error": round(
            statistics.fmean(abs(scores[r["id"]] - r["human_mean"]) for r in rows), 2
        ),
        "inter_rater_qwk": quadratic_kappa(a, b),
        "inter_rater_spearman": spearman(a, b),
    }


def _errata_pairs(rows: list[dict], scores: dict[str, float]) -> dict:
    """Each erratum's pair: the answer stating the correction must not score below the one
    repeating the handbook's error."""
    by: dict[str, dict] = defaultdict(dict)
    human: dict[str, dict] = defaultdict(dict)
    for r in rows:
        by[r["erratum"]][r["variant"]] = scores[r["id"]]
        human[r["erratum"]][r["variant"]] = r["human_mean"]
    pairs = {e: v for e, v in by.items() if {"correct", "error"} <= set(v)}
    below = sorted(e for e, v in pairs.items() if v["correct"] < v["error"])
    return {
        "pairs": len(pairs),
        "correct_below_error": below,
        "humans_put_correct_below_error": sorted(
            e for e in pairs if human[e]["correct"] < human[e]["error"]
        ),
        "agreement": agreement(rows, scores),
        "mean_gap": round(statistics.fmean(v["correct"] - v["error"] for v in pairs.values()), 2)
        if pairs
        else None,
    }


def _spread(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values), 2),
        "sd": round(statistics.pstdev(values), 2),
        "min": min(values),
        "median": round(statistics.median(values), 2),
        "max": max(values),
    }


def _effects(injected: list[dict], scores: dict, results: dict) -> list[dict]:
    return [
        {
            "id": r["id"],
            "base": r["base"],
            "delta": round(scores[r["id"]] - scores[r["base"]], 2),
            "flagged": "answer_injection" in results[r["id"]]["flags"],
            "holdout": r["id"].startswith("h-"),
        }
        for r in injected
    ]


def _injection_summary(effects: list[dict]) -> dict:
    deltas = [e["delta"] for e in effects]
    return {
        "n": len(effects),
        "raised": sum(d > 0 for d in deltas),
        "max_delta": max(deltas, default=0.0),
        "mean_delta": round(statistics.fmean(deltas), 2) if deltas else 0.0,
        "flagged": sum(e["flagged"] for e in effects),
    }


def run(
    cfg: Config, split: str = "test", limit: int | None = None, progress=None, grader=None
) -> dict:
    from coach.interview import Grader

    start = time.perf_counter()
    rows = _sample(load_rows(DATASET, split), limit)
    sampled = {r["id"] for r in rows}
    rows += [r for r in load_rows(HOLDOUT, split) if r["base"] in sampled or r["base"] is None]
    if limit is not None:  # about-injection holdout rows only with their question sampled
        questions = {r["question"] for r in rows if r["id"] in sampled}
        rows = [r for r in rows if r["id"] in sampled or r["question"] in questions]
    questions = {r["question"] for r in rows}
    human = [r for r in load_rows(HUMAN, split) if limit is None or r["question"] in questions]
    errata = [r for r in load_rows(ERRATA, split) if limit is None or r["question"] in questions]
    rows += human + errata
    grader = grader or Grader(cfg)
    grader.warm_up()
    results: dict[str, dict] = {}
    for i, row in enumerate(rows, 1):
        t = time.perf_counter()
        grade = grader.grade(row["question"], row["answer"])
        results[row["id"]] = {
            "score": grade.score,
            "seconds": round(time.perf_counter() - t, 3),
            "flags": list(grade.flags),
            "verdicts": [p.verdict for p in grade.points],
            "signals": [vars(p.signals) for p in grade.points],
            "made": [p.made for p in grade.points],
            "errors": [[e.kind, e.text] for e in grade.found_errors],
            "deductions": grade.deductions,
            "weights": [p.point.weight for p in grade.points],
            "words": len(row["answer"].split()),
        }
        if progress:
            progress(f"  grading {i}/{len(rows)} {row['id']}: {grade.score:.1f}")
    scores = {rid: r["score"] for rid, r in results.items()}

    repeat_rows = stratified_sample(
        rows, REPEATS_LIMITED if limit is not None else REPEATS_FULL, key=lambda r: r["level"]
    )
    repeats = []
    for i, row in enumerate(repeat_rows, 1):
        again = grader.grade(row["question"], row["answer"]).score
        if progress:
            progress(f"  grading again {i}/{len(repeat_rows)} {row['id']}: {again:.1f}")
        repeats.append({"id": row["id"], "first": scores[row["id"]], "again": again})

    graded = [r for r in rows if r["kind"] in ("plain", "about_injection") and "quality" in r]
    plain = [r for r in rows if r["kind"] == "plain" and "quality" in r]
    injected = [r for r in rows if r["kind"] == "injection" and r["base"] in scores]
    effects = _effects(injected, scores, results)
    about = [r for r in rows if r["kind"] == "about_injection"]
    seconds = [r["seconds"] for r in results.values()]
    levels = sorted({r["level"] for r in human})
    words = [(results[r["id"]]["words"], results[r["id"]]["seconds"]) for r in rows]
    metrics = {
        "human": {
            **agreement(human, scores),
            "partial": agreement([r for r in human if r["level"] == "partial"], scores),
            "mean_by_level": {
                lv: {
                    "ours": round(
                        statistics.fmean(scores[r["id"]] for r in human if r["level"] == lv), 2
                    ),
                    "human": round(
                        statistics.fmean(r["human_mean"] for r in human if r["level"] == lv), 2
                    ),
                }
                for lv in levels
            },
        },  # fmt: skip
        "errata_pairs": _errata_pairs(errata, scores),
        "latency_by_words": {
            band: _spread([sec for w, sec in words if lo <= w < hi])
            for band, (lo, hi) in {
                "<100": (0, 100),
                "100-250": (100, 251),
                ">250": (251, 10**6),
            }.items()
        },  # fmt: skip
        "answers": len(rows),
        "questions": len({r["question"] for r in rows}),
        "spearman": spearman(
            [scores[r["id"]] for r in graded], [float(r["quality"]) for r in graded]
        ),
        "pairs": {k: v for k, v in ordered_pairs(plain, scores).items() if k != "misordered"},
        "by_level": {
            level: _spread([scores[r["id"]] for r in graded if r["level"] == level])
            for level in LEVELS
        },
        "repeat": {
            "n": len(repeats),
            "identical": sum(r["first"] == r["again"] for r in repeats),
            "max_abs_diff": max((abs(r["first"] - r["again"]) for r in repeats), default=0.0),
        },
        "injection": _injection_summary([e for e in effects if not e["holdout"]]),
        "injection_holdout": _injection_summary([e for e in effects if e["holdout"]]),
        "about_injection": {
            "n": len(about),
            "wrongly_flagged": sum("answer_injection" in results[r["id"]]["flags"] for r in about),
            "scores": _spread([scores[r["id"]] for r in about]),
        },
        "latency_s": {
            "p50": round(percentile(seconds, 50), 2),
            "p95": round(percentile(seconds, 95), 2),
        },
        "settings": vars(grader.settings),
        "model": getattr(grader.generator, "name", cfg.model),
    }
    report = {
        "suite": "grading",
        "split": split,
        "n": len(rows),
        "metrics": metrics,
        "misordered": ordered_pairs(plain, scores)["misordered"],
        "injection_effects": effects,
        "repeats": repeats,
        "rows": [
            {"id": r["id"], "level": r["level"], "kind": r["kind"], **results[r["id"]]}
            for r in rows
        ],
    }
    return finish(cfg, report, start)
