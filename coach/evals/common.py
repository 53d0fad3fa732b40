"""Shared eval plumbing: datasets, deterministic stratified samples, ranking metrics, reports.

Rows use ragas' field names (`user_input`, `retrieved_context_ids`, `reference_context_ids`).
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from coach.config import REPO_ROOT, Config
from coach.errors import SetupError, UsageError

EVALS_DIR = REPO_ROOT / "evals"


def load_rows(relpath: str, split: str | None = None) -> list[dict]:
    path = EVALS_DIR / relpath
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    except (OSError, ValueError) as exc:
        raise SetupError(f"Cannot read the eval set {path}: {exc}") from exc
    if split is not None:
        if split not in ("dev", "test"):
            raise UsageError(f"Unknown split {split!r}: use dev or test.")
        rows = [r for r in rows if r.get("split") == split]
    return rows


def stratified_sample(rows: Sequence[dict], limit: int | None, key: Callable[[dict], str]) -> list:
    """A deterministic sample of `limit` rows spread over strata, in the rows' own order.

    Round-robin over strata (sorted by name), taking each stratum's rows in file order.

    >>> rows = [{"k": "a", "i": 1}, {"k": "a", "i": 2}, {"k": "b", "i": 3}, {"k": "a", "i": 4}]
    >>> [r["i"] for r in stratified_sample(rows, 3, key=lambda r: r["k"])]
    [1, 2, 3]
    >>> len(stratified_sample(rows, None, key=lambda r: r["k"]))
    4
    """
    if limit is None or limit >= len(rows):
        return list(rows)
    if limit < 1:
        raise UsageError("--limit must be at least 1.")
    strata: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        strata[key(row)].append(i)
    queues = [strata[name] for name in sorted(strata)]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < limit:
        for q in queues:
            if depth < len(q) and len(chosen) < limit:
                chosen.append(q[depth])
        depth += 1
    return [rows[i] for i in sorted(chosen)]


def hit_at(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """1.0 if any gold id is in the top k.

    >>> hit_at(["Q2", "Q1"], {"Q1"}, 1), hit_at(["Q2", "Q1"], {"Q1"}, 2)
    (0.0, 1.0)
    """
    return float(bool(set(ranked[:k]) & gold))


def mrr_at(ranked: Sequence[str], gold: set[str], k: int = 10) -> float:
    """Reciprocal rank of the first gold id within the top k.

    >>> mrr_at(["Q3", "Q2", "Q1"], {"Q1"})
    0.3333333333333333
    """
    for rank, doc in enumerate(ranked[:k], start=1):
        if doc in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked: Sequence[str], gold: set[str], k: int = 10) -> float:
    """Binary-relevance nDCG@k.

    >>> round(ndcg_at(["Q2", "Q1"], {"Q1"}), 4)  # 1/log2(3)
    0.6309
    >>> ndcg_at(["Q1", "Q2"], {"Q1", "Q2"})
    1.0
    """
    dcg = sum(1.0 / math.log2(r + 1) for r, d in enumerate(ranked[:k], start=1) if d in gold)
    ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(len(gold), k) + 1))
    return dcg / ideal if ideal else 0.0


def roc_auc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """Probability that a random positive outscores a random negative (ties count half).

    >>> roc_auc([0.9, 0.8], [0.1, 0.8])
    0.875
    """
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def roc_points(pos: Sequence[float], neg: Sequence[float]) -> list[dict]:
    """(threshold, tpr, fpr) for every distinct score, positives being score >= threshold."""
    points = []
    for t in sorted(set(pos) | set(neg), reverse=True):
        tpr = sum(p >= t for p in pos) / len(pos) if pos else 0.0
        fpr = sum(n >= t for n in neg) / len(neg) if neg else 0.0
        points.append({"threshold": round(t, 4), "tpr": round(tpr, 4), "fpr": round(fpr, 4)})
    return points


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile.

    >>> percentile([1, 2, 3, 4], 50), percentile([1, 2, 3, 4], 95)
    (2, 4)
    """
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def write_report(cfg: Config, suite: str, split: str, report: dict) -> Path:
    cfg.reports_dir.mkdir(parents=True, exist_ok=True)
    path = cfg.reports_dir / f"{suite}-{split}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path


def finish(cfg: Config, report: dict, start: float) -> dict:
    """Write a suite's report and return the CLI's summary of it (the eval contract)."""
    path = write_report(cfg, report["suite"], report["split"], report)
    return {
        "suite": report["suite"],
        "split": report["split"],
        "n": report["n"],
        "metrics": report["metrics"],
        "report": str(path),
        "seconds": round(time.perf_counter() - start, 2),
    }


def bootstrap_interval(
    stat, samples: Sequence, n: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """A percentile bootstrap interval for `stat(resampled samples)`; resamples where the
    statistic is undefined (NaN) are skipped. Deterministic for a given seed.

    >>> lo, hi = bootstrap_interval(lambda xs: sum(xs) / len(xs), [0, 1] * 50)
    >>> 0.38 < lo < 0.5 < hi < 0.62
    True
    """
    import random

    if not samples:
        return None
    rng = random.Random(seed)
    values = []
    for _ in range(n):
        resample = [samples[rng.randrange(len(samples))] for _ in samples]
        v = stat(resample)
        if not math.isnan(v):
            values.append(v)
    if not values:
        return None
    values.sort()
    low = values[int((1 - level) / 2 * (len(values) - 1))]
    high = values[int((1 + level) / 2 * (len(values) - 1))]
    return round(low, 4), round(high, 4)
