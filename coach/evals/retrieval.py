"""Retrieval eval: hit@1, hit@3, MRR@10, nDCG@10 per retriever, and the scope decision.

Tune on `--split dev` only; the test split is for the reported numbers (evals/retrieval/README.md).

Runs the golden set (`evals/retrieval/golden.jsonl`) through BM25-only, dense-only, hybrid and
hybrid+rerank (when a reranker is configured), side by side, plus scope precision/recall and the
ROC of the scope score. Cheap id-based metrics only: no LLM involved.
"""

from __future__ import annotations

import time
from collections import defaultdict

from coach.config import Config
from coach.evals.common import (
    bootstrap_interval,
    hit_at,
    load_rows,
    mrr_at,
    ndcg_at,
    percentile,
    roc_auc,
    roc_points,
    stratified_sample,
    write_report,
)
from coach.evals.overlap import overlapping
from coach.search import Searcher, scope

GOLDEN = "retrieval/golden.jsonl"
# Questions by an independent author, frozen before tuning, test only: fully, partly and not
# covered by the handbook (evals/retrieval/README.md). Reported beside the golden test split.
FRESH = "retrieval/fresh.jsonl"
MODES = ("bm25", "dense", "hybrid", "rerank")


def _ranking_metrics(rows: list[dict]) -> dict:
    n = len(rows)
    if not n:
        return {}
    out = {
        "hit@1": sum(r["hit@1"] for r in rows) / n,
        "hit@3": sum(r["hit@3"] for r in rows) / n,
        "mrr@10": sum(r["mrr@10"] for r in rows) / n,
        "ndcg@10": sum(r["ndcg@10"] for r in rows) / n,
    }
    return {k: round(v, 4) for k, v in out.items()}


def _synthetic_overlap(embedder) -> dict:
    """How many synthetic questions (doc2query rows) overlap a golden query (any split).

    Overlap: word 5-gram Jaccard >= 0.5 or MiniLM cosine >= 0.9 (coach/evals/overlap.py). The
    committed file is decontaminated when it is written, so this should be 0.
    """
    from coach.search import load_synthetic

    texts = [r["text"] for r in load_synthetic()]
    if not texts:
        return {"synthetic_questions": 0}
    golden = [r["user_input"] for r in load_rows("retrieval/golden.jsonl")]
    found = overlapping(texts, golden, embedder.embed(texts), embedder.embed(golden))
    return {"synthetic_questions": len(texts), "overlapping": len(found), "examples": found[:5]}


def _scope_training() -> dict:
    """What the scope model was fitted on (corpus/scope_model.json), for the report."""
    return scope.model().get("training", {})  # a missing model is a SetupError, not {}


def rerank_gain(pairs: list[tuple[bool, bool]]) -> dict | None:
    """hit@1 of rerank minus hybrid on the same queries, with a paired bootstrap 95% interval:
    each resample keeps a query's two outcomes together, so query difficulty cancels out.

    >>> rerank_gain([(True, False)] * 3 + [(True, True)] * 7)["difference"]
    0.3
    """
    if not pairs:
        return None

    def diff(sample) -> float:
        return sum(int(r) - int(h) for r, h in sample) / len(sample)

    interval = bootstrap_interval(diff, pairs)
    return {"n": len(pairs), "difference": round(diff(pairs), 4),
            "interval_95": [round(v, 4) for v in interval]}  # fmt: skip


def _fresh(searcher, rows: list[dict], modes: list[str], default_mode: str) -> tuple[dict, list]:
    """hit@1 / hit@3 on fully and partly covered fresh questions per retriever; the scope
    decision on the uncovered ones (flagged) and the covered ones (wrongly flagged)."""
    hits: dict[tuple[str, str], list[tuple[bool, bool]]] = defaultdict(list)
    flags: dict[str, list[bool]] = defaultdict(list)
    records = []
    for row in rows:
        gold = set(row["reference_context_ids"])
        record = {"id": row["id"], "user_input": row["user_input"], "coverage": row["coverage"]}
        for mode in modes:
            res = searcher.search(row["user_input"], k=10, mode=mode)
            ranked = [h.id for h in res.hits]
            if row["coverage"] != "none":
                hits[mode, row["coverage"]].append(
                    (hit_at(ranked, gold, 1), hit_at(ranked, gold, 3))
                )
            if mode == default_mode:
                flags[row["coverage"]].append(not res.in_scope)
                record |= {"retrieved_context_ids": ranked[:3], "flagged": not res.in_scope}
        records.append(record)

    def share(values) -> float | None:
        values = list(values)
        return round(sum(values) / len(values), 4) if values else None

    ranking = {
        mode: {
            f"{coverage}_hit@{k}": share(h[i] for h in hits[mode, coverage])
            for coverage in ("full", "partial")
            for i, k in enumerate((1, 3))
        }
        for mode in modes
    }
    covered = flags["full"] + flags["partial"]
    gain = None
    if "rerank" in modes:
        full = [
            (r[0], h[0])
            for r, h in zip(hits["rerank", "full"], hits["hybrid", "full"], strict=True)
        ]
        gain = rerank_gain(full)
    return {
        "n": {c: len(flags[c]) for c in ("full", "partial", "none")},
        **ranking,
        "rerank_minus_hybrid_full_hit@1": gain,
        "uncovered_flagged": share(flags["none"]),
        "covered_wrongly_flagged": share(covered),
    }, records


def run(
    cfg: Config, split: str = "test", limit: int | None = None, searcher=None, progress=None
) -> dict:
    start = time.perf_counter()
    rows = stratified_sample(load_rows(GOLDEN, split), limit, key=lambda r: r["kind"])
    from coach.search import rerank

    searcher = searcher or Searcher(cfg)
    idx = searcher.warm_up()
    default_mode = "rerank" if searcher.reranker is not None else "hybrid"
    # Compare against a reranker even when the default leaves it out: it must earn its place.
    searcher.reranker = searcher.reranker or rerank.available(cfg, idx)
    modes = [m for m in MODES if m != "rerank" or searcher.reranker is not None]
    per_mode: dict[str, list[dict]] = defaultdict(list)
    per_query = []
    latencies: dict[str, list[float]] = defaultdict(list)
    scope_in, scope_out, flagged = [], [], []
    for i, row in enumerate(rows, 1):
        gold = set(row["reference_context_ids"])
        record = {
            "id": row["id"],
            "user_input": row["user_input"],
            "kind": row["kind"],
            "reference_context_ids": row["reference_context_ids"],
        }
        for mode in modes:
            t0 = time.perf_counter()
            res = searcher.search(row["user_input"], k=10, mode=mode)
            latencies[mode].append(time.perf_counter() - t0)
            ranked = [h.id for h in res.hits]
            record[f"retrieved_context_ids[{mode}]"] = ranked[:3]
            if mode == default_mode:
                record["retrieved_context_ids"] = ranked
                speller = getattr(searcher, "speller", None)
                fixes = speller.corrections(row["user_input"]) if speller else {}
                if fixes:
                    record["typo_corrections"] = fixes
                record["scope_score"] = round(res.scope_score, 4)
                record["in_scope_predicted"] = res.in_scope
                (scope_in if row["in_scope"] else scope_out).append(res.scope_score)
                flagged.append((row["in_scope"], not res.in_scope))
            if row["in_scope"]:
                per_mode[mode].append(
                    {
                        "kind": row["kind"],
                        "hit@1": hit_at(ranked, gold, 1),
                        "hit@3": hit_at(ranked, gold, 3),
                        "mrr@10": mrr_at(ranked, gold, 10),
                        "ndcg@10": ndcg_at(ranked, gold, 10),
                    }
                )
        per_query.append(record)
        if progress and i % 20 == 0:
            progress(f"  retrieval eval: {i}/{len(rows)} queries")
    oos_total = sum(1 for ins, _ in flagged if not ins)
    in_total = sum(1 for ins, _ in flagged if ins)
    oos_flagged = sum(1 for ins, f in flagged if not ins and f)
    in_flagged = sum(1 for ins, f in flagged if ins and f)
    metrics = {
        "in_scope_queries": in_total,
        "out_of_scope_queries": oos_total,
        **{f"{mode}": _ranking_metrics(per_mode[mode]) for mode in modes},
        "rerank_minus_hybrid_hit@1": rerank_gain(
            [
                (r["hit@1"], h["hit@1"])
                for r, h in zip(per_mode["rerank"], per_mode["hybrid"], strict=True)
            ]
        )
        if "rerank" in modes
        else None,
        "by_kind": {
            mode: {
                kind: _ranking_metrics([r for r in per_mode[mode] if r["kind"] == kind])
                for kind in sorted({r["kind"] for r in per_mode[mode]})
            }
            for mode in modes
        },
        "scope": {
            "signal": scope.SIGNAL,
            "threshold": scope.threshold()
            if getattr(searcher, "scope_threshold", None) is None
            else searcher.scope_threshold,
            "training": _scope_training(),
            "oos_recall": round(oos_flagged / oos_total, 4) if oos_total else None,
            "oos_precision": round(oos_flagged / (oos_flagged + in_flagged), 4)
            if oos_flagged + in_flagged
            else None,
            "in_scope_wrongly_flagged": round(in_flagged / in_total, 4) if in_total else None,
            # ROC with "in scope" as the positive class and the scope score as the ranking.
            "auc": round(roc_auc(scope_in, scope_out), 4),
            "roc": roc_points(scope_in, scope_out),
        },
        "latency_ms": {
            m: {
                "p50": round(1000 * percentile(v, 50), 1),
                "p95": round(1000 * percentile(v, 95), 1),
            }
            for m, v in latencies.items()
        },
    }
    config = {
        "k_bm25": cfg.k_bm25,
        "k_dense": cfg.k_dense,
        "rrf_k": cfg.rrf_k,
        "rerank": getattr(searcher, "rerank_config", None) if default_mode == "rerank" else None,
        "rerank_max_length": cfg.rerank_max_length,
        "reranker": getattr(searcher.reranker, "name", "none"),
        "default_mode": default_mode,
        "doc2query": cfg.doc2query,
        "fusion": getattr(searcher, "fusion", None),
    }
    metrics["config"] = config
    metrics["synthetic_overlap"] = _synthetic_overlap(searcher.embedder)
    fresh_queries: list[dict] = []
    if split == "test":
        fresh_rows = stratified_sample(load_rows(FRESH, "test"), limit, key=lambda r: r["coverage"])
        metrics["fresh"], fresh_queries = _fresh(searcher, fresh_rows, modes, default_mode)
    report = {
        "suite": "retrieval",
        "split": split,
        "n": len(rows),
        "metrics": metrics,
        "rows": per_query,
        "fresh_rows": fresh_queries,
    }
    path = write_report(cfg, "retrieval", split, report)
    summary = {**metrics, "scope": {k: v for k, v in metrics["scope"].items() if k != "roc"}}
    return {
        "suite": "retrieval",
        "split": split,
        "n": len(rows),
        "metrics": summary,
        "report": str(path),
        "seconds": round(time.perf_counter() - start, 2),
    }
