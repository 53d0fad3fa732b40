"""Grading eval: does the grader order answers of known quality, stably, and resist injection?

Dataset: evals/grading/set.jsonl (frozen dev/test split by question). Per question four plain
answers of known quality (strong 3, partial 2, wrong 1, off-topic or empty 0), plus injected
twins of some plain answers (`base` names the twin) and legitimate answers *about* injection.

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
# Injected answers written after the injection defences were built, by someone who never saw
# them, on test-split answers that had no injected twin: the clean measure of injection.
HOLDOUT = "grading/injection_holdout.jsonl"
LEVELS = ("strong", "partial", "wrong", "off_topic")
REPEATS_FULL = 40  # rows re-graded later in the run, to check the score does not move
REPEATS_LIMITED = 12


def _sample(rows: list[dict], limit: int | None) -> list[dict]:
    if limit is None:
        return rows
    questions = sorted({r["question"] for r in rows})
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
            "claims": [c.score for c in grade.claims],
            "weights": [p.point.weight for p in grade.points],
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

    graded = [r for r in rows if r["kind"] in ("plain", "about_injection")]
    plain = [r for r in rows if r["kind"] == "plain"]
    injected = [r for r in rows if r["kind"] == "injection" and r["base"] in scores]
    effects = _effects(injected, scores, results)
    about = [r for r in rows if r["kind"] == "about_injection"]
    seconds = [r["seconds"] for r in results.values()]
    metrics = {
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
