"""`coach eval --suite guardrails`: the red-team suite (coach/evals/redteam.py) and the
end-to-end leak test (coach/evals/leak.py) in the eval contract, reports saved like every
other suite's. With `--limit N` the leak test takes a tenth of N attacks (at least 3): each
one is a real generation."""

from __future__ import annotations

import time

from coach.config import Config
from coach.evals import leak
from coach.evals.common import write_report
from coach.evals.redteam import run_redteam


def run(cfg: Config, split: str = "test", limit: int | None = None, progress=None) -> dict:
    start = time.perf_counter()
    if progress:
        progress(f"  guardrails eval: red-team {split} split")
    result = run_redteam(split=split, limit=limit)
    metrics = {
        **result["metrics"],
        "categories": result["categories"],
        "classifiers": result["classifiers"],
    }
    leak_result = leak.run(
        cfg, split, limit=None if limit is None else max(3, limit // 10), progress=progress
    )
    metrics["leak"] = {**leak_result["metrics"], "report": leak_result["report"]}
    path = write_report(cfg, "guardrails", split, {**result, "metrics": metrics})
    summary = {**result["metrics"], "leak": metrics["leak"]}
    summary["categories"] = {
        name: {k: v for k, v in cat.items() if k != "wrong"}
        for name, cat in result["categories"].items()
    }
    return {
        "suite": "guardrails",
        "split": split,
        "n": result["n"],
        "metrics": summary,
        "report": str(path),
        "seconds": round(time.perf_counter() - start, 2),
    }
