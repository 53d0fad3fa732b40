"""Replay the grader's dev tuning from a grading report's stored signals (no model needed).

    .venv/bin/python scripts/fit_grader.py [--report evals/grading/report-dev.json] [--n 20000]

Every graded row of `coach eval --suite grading --split dev` keeps its per-point signals
(cosine, keywords, P(yes), list-likeness), weights and found errors, so any GradeSettings can be
scored against the human grades (evals/grading/human.jsonl) without re-running the model. This
prints the shipped settings' agreement with the human mean, then a seeded random search over the
seven P(made) settings minimising squared error (ties broken by kappa): the route the shipped
numbers came from (evals/grading/README.md, "Method"). It tunes on whatever split the report
is; run it on dev only.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import warnings
from dataclasses import asdict, replace
from pathlib import Path

from coach.evals import load_rows
from coach.evals.grading import HUMAN, quadratic_kappa, spearman
from coach.interview.grade import GradeSettings, replay

# (low, high) of each searched setting; the shipped values sit well inside every range.
RANGES = {
    "made_bias": (-10.0, -2.0),
    "made_llm": (0.0, 4.0),
    "made_cos": (0.0, 10.0),
    "made_kw": (0.0, 8.0),
    "made_list": (-6.0, 0.0),
    "covered_at": (0.4, 0.9),
    "partial_at": (0.1, 0.5),
}


def human_rows(report: dict) -> list[tuple[dict, float]]:
    """(report row, human mean) for every human-graded answer the report graded without an
    injection flag (a flagged grade is the lower of two gradings, not replayable from one)."""
    humans = {r["id"]: r["human_mean"] for r in load_rows(HUMAN, report["split"])}
    return [
        (row, humans[row["id"]])
        for row in report["rows"]
        if row["id"] in humans and "answer_injection" not in row["flags"]
    ]


def evaluate(rows: list[tuple[dict, float]], s: GradeSettings) -> dict:
    ours = [replay(r["signals"], r["weights"], len(r["errors"]), s) for r, _ in rows]
    human = [h for _, h in rows]
    return {
        "mse": round(statistics.fmean((a - b) ** 2 for a, b in zip(ours, human, strict=True)), 3),
        "qwk": quadratic_kappa([round(x) for x in ours], [round(x) for x in human]),
        "spearman": spearman(ours, human),
    }


def search(rows: list[tuple[dict, float]], n: int, seed: int = 0) -> list[tuple[dict, dict]]:
    rng = random.Random(seed)
    found = []
    for _ in range(n):
        values = {k: round(rng.uniform(lo, hi), 2) for k, (lo, hi) in RANGES.items()}
        if values["partial_at"] >= values["covered_at"]:
            continue
        found.append((values, evaluate(rows, replace(GradeSettings(), **values))))
    return sorted(found, key=lambda f: (f[1]["mse"], -f[1]["qwk"]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", type=Path, default=Path("evals/grading/report-dev.json"))
    ap.add_argument("--n", type=int, default=20000, help="random settings to try")
    args = ap.parse_args()
    # Many random settings score every answer alike: Spearman is then undefined (reported 0).
    warnings.filterwarnings("ignore", message="An input array is constant")
    report = json.loads(args.report.read_text(encoding="utf-8"))
    rows = human_rows(report)
    shipped = GradeSettings()
    out = {
        "report": str(args.report),
        "split": report["split"],
        "human_graded_rows": len(rows),
        "shipped": {**{k: asdict(shipped)[k] for k in RANGES}, **evaluate(rows, shipped)},
        "best": [{**v, **m} for v, m in search(rows, args.n)[:5]],
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
