"""Search benchmark (a script, not a timed test): index build time from scratch, and search
latency p50/p95 per stage over the golden set's queries, hybrid and reranked. The rerank stage is
timed with the coach's own reranker (corpus/reranker/, at the depth in
corpus/retrieval_defaults.json) even while the default leaves it off, or with a Hugging Face
cross-encoder directory given by --reranker.

    .venv/bin/python scripts/bench_search.py [--out evals/retrieval/benchmark.json] [--reranker DIR]

Run it on an otherwise idle machine: on 2 cores, any other load skews every figure.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from coach.config import load_config
from coach.evals import load_rows, percentile
from coach.search import Searcher, ensure_index, rerank


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument(
        "--reranker",
        type=Path,
        default=None,
        help="a Hugging Face cross-encoder dir to time instead of the coach's own reranker",
    )
    args = ap.parse_args()
    report: dict = {
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()}
    }
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(index_dir=Path(tmp) / "index", reranker_path=args.reranker)
        t0 = time.perf_counter()
        ensure_index(cfg)
        report["index_build_s"] = round(time.perf_counter() - t0, 2)
        searcher = Searcher(cfg)
        t0 = time.perf_counter()
        idx = searcher.warm_up()
        report["warm_up_s"] = round(time.perf_counter() - t0, 2)
        searcher.reranker = searcher.reranker or rerank.available(cfg, idx)
        report["reranker"] = getattr(searcher.reranker, "name", "none")
        report["rerank_settings"] = rerank.settings()
        queries = [r["user_input"] for r in load_rows("retrieval/golden.jsonl")]
        modes = ["hybrid"] + (["rerank"] if searcher.reranker is not None else [])
        for mode in modes:
            stages: dict[str, list[float]] = {}
            totals = []
            for _ in range(args.repeats):
                for q in queries:
                    t0 = time.perf_counter()
                    res = searcher.search(q, mode=mode)
                    totals.append(time.perf_counter() - t0)
                    for name, secs in res.timing.items():
                        stages.setdefault(name, []).append(secs)
            report[mode] = {
                "queries": len(totals),
                "total_ms": {
                    "p50": round(1000 * percentile(totals, 50), 2),
                    "p95": round(1000 * percentile(totals, 95), 2),
                },
                "stages_ms": {
                    k: {
                        "p50": round(1000 * percentile(v, 50), 2),
                        "p95": round(1000 * percentile(v, 95), 2),
                    }
                    for k, v in stages.items()
                },
            }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
