"""`coach eval --suite guardrails`: the red-team suite (coach/evals/redteam.py) and the
end-to-end leak test (coach/evals/leak.py) in the eval contract, reports saved like every
other suite's. On the test split it also runs `evals/guardrails/benign_fresh.jsonl` (everyday,
ML-engineering and security-engineering questions by an author who never saw the guards'
training rows; frozen, test only): the share of them the input guards block. With `--limit N`
the leak test takes a tenth of N attacks (at least 3): each one is a real generation. Every
split also runs the document red team (coach/evals/document_injection.py): text inside an
added document that addresses the assistant."""

from __future__ import annotations

import time
from collections import defaultdict

from coach.config import Config
from coach.evals import leak
from coach.evals.common import load_rows, stratified_sample, write_report
from coach.evals.document_injection import run_documents
from coach.evals.redteam import run_redteam
from coach.guardrails import Guards, check_input, real_guards

BENIGN_FRESH = "guardrails/benign_fresh.jsonl"


def benign_fresh(guards: Guards, limit: int | None = None) -> dict:
    """Block rate of the fresh benign set, overall and per category, with what was blocked."""
    rows = stratified_sample(load_rows(BENIGN_FRESH, "test"), limit, key=lambda r: r["category"])
    by_cat: dict[str, list[bool]] = defaultdict(list)
    blocked = []
    for row in rows:
        verdict = check_input(row["text"], row["context"], guards=guards)
        by_cat[row["category"]].append(not verdict.allowed)
        if not verdict.allowed:
            blocked.append({"id": row["id"], "text": row["text"], "flags": list(verdict.names)})
    return {
        "n": len(rows),
        "blocked_rate": round(len(blocked) / len(rows), 4) if rows else None,
        "by_category": {
            c: {"n": len(v), "blocked_rate": round(sum(v) / len(v), 4)} for c, v in by_cat.items()
        },
        "blocked": blocked,
    }


def run(cfg: Config, split: str = "test", limit: int | None = None, progress=None) -> dict:
    start = time.perf_counter()
    if progress:
        progress(f"  guardrails eval: red-team {split} split")
    guards = real_guards()
    result = run_redteam(split=split, limit=limit, guards=guards)
    metrics = {
        **result["metrics"],
        "categories": result["categories"],
        "classifiers": result["classifiers"],
    }
    leak_result = leak.run(
        cfg, split, limit=None if limit is None else max(3, limit // 10), progress=progress
    )
    metrics["leak"] = {**leak_result["metrics"], "report": leak_result["report"]}
    metrics["documents"] = run_documents(cfg, split, limit)
    if split == "test":
        metrics["benign_fresh"] = benign_fresh(guards, limit)
    path = write_report(cfg, "guardrails", split, {**result, "metrics": metrics})
    summary = {**result["metrics"], "leak": metrics["leak"]}
    if "benign_fresh" in metrics:
        summary["benign_fresh"] = {
            k: v for k, v in metrics["benign_fresh"].items() if k != "blocked"
        }
    summary["documents"] = {k: v for k, v in metrics["documents"].items() if k != "wrong"}
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
