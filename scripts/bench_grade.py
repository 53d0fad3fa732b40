"""Grading benchmark (a script, not a timed test): seconds per grade against answer length, with
warm models, on the human-graded dev answers (evals/grading/human.jsonl) of up to 250 words and
longer ones reported apart.

    .venv/bin/python scripts/bench_grade.py [--n 40] [--out evals/grading/benchmark.json]

Run it on an otherwise idle machine: llama.cpp on 2 cores collapses under any other load.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from coach.config import load_config
from coach.evals import load_rows, percentile, stratified_sample
from coach.interview import Grader

BANDS = {"<100": (0, 100), "100-250": (100, 251), ">250": (251, 10**6)}


def _dist(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 2),
        "p95": round(percentile(values, 95), 2),
        "max": round(max(values), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    cfg = load_config()
    rows = stratified_sample(load_rows("grading/human.jsonl", "dev"), args.n, lambda r: r["level"])
    grader = Grader(cfg)
    grader.warm_up()
    grader.grade(rows[0]["question"], rows[0]["answer"])  # warm
    timed = []
    for row in rows:
        start = time.perf_counter()
        grader.grade(row["question"], row["answer"])
        timed.append((len(row["answer"].split()), time.perf_counter() - start))
    up_to_250 = [s for w, s in timed if w <= 250]
    report = {
        "model": cfg.model,
        "threads": cfg.threads,
        "answers": len(timed),
        "up_to_250_words": _dist(up_to_250),
        "by_words": {
            band: _dist([s for w, s in timed if lo <= w < hi]) for band, (lo, hi) in BANDS.items()
        },
        "rows": [{"words": w, "seconds": round(s, 2)} for w, s in timed],
    }
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text if not args.out else json.dumps({k: v for k, v in report.items() if k != "rows"}))


if __name__ == "__main__":
    main()
