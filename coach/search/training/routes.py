"""The dev-split grid behind corpus/retrieval_defaults.json: every fusion and rerank route that
evals/retrieval/README.md reports, measured by this code on the golden set's dev split only.

    python -m coach.search.training.routes [--out evals/retrieval/routes-dev.json]

Routes: BM25 and dense alone; chunk-level RRF; section-level linear fusion over the BM25 weight,
with BM25 reading the query as typed or typo-corrected; the trained reranker interpolated with
the fused score over rerank depth x weight (weight 1.0 is the reranker alone); and the ROC AUC
of the scope score and of the reranker's answerability. Reranker scores are memoised per
(query, passage), so the grid costs one scoring pass per query.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from coach.config import load_config
from coach.evals import hit_at, load_rows, mrr_at, roc_auc

GOLDEN = "retrieval/golden.jsonl"
BM25_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
DEPTHS = (3, 5, 8, 10)
RERANK_WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)


class Memo:
    """A reranker wrapper that scores each (query, passage) once."""

    def __init__(self, reranker):
        self.reranker = reranker
        self.name = getattr(reranker, "name", "reranker")
        self.seen: dict[tuple[str, str], float] = {}

    def score(self, query: str, passages: list[str]) -> list[float]:
        todo = [p for p in dict.fromkeys(passages) if (query, p) not in self.seen]
        for p, s in zip(todo, self.reranker.score(query, todo) if todo else [], strict=True):
            self.seen[query, p] = s
        return [self.seen[query, p] for p in passages]


def ranking(searcher, rows: list[dict], mode: str) -> dict:
    """hit@1, hit@3, MRR@10 of one route over the in-scope rows."""
    hits1 = hits3 = mrr = 0.0
    for row in rows:
        gold = set(row["reference_context_ids"])
        ranked = [h.id for h in searcher.search(row["user_input"], k=10, mode=mode).hits]
        hits1 += hit_at(ranked, gold, 1)
        hits3 += hit_at(ranked, gold, 3)
        mrr += mrr_at(ranked, gold, 10)
    n = len(rows)
    return {"hit@1": round(hits1 / n, 4), "hit@3": round(hits3 / n, 4), "mrr@10": round(mrr / n, 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    from coach.search import Searcher, rerank

    cfg = load_config()
    searcher = Searcher(cfg, use_reranker=False)
    idx = searcher.warm_up()
    shipped = dict(searcher.fusion)
    dev = load_rows(GOLDEN, "dev")
    covered = [r for r in dev if r["in_scope"]]
    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    routes: dict[str, dict] = {}
    for mode in ("bm25", "dense"):
        routes[mode] = ranking(searcher, covered, mode)
    searcher.fusion = {**shipped, "method": "rrf"}
    routes[f"rrf (k={cfg.rrf_k}), chunk level"] = ranking(searcher, covered, "hybrid")
    for correct in (False, True):
        for w in BM25_WEIGHTS:
            searcher.fusion = {**shipped, "method": "linear", "bm25_weight": w,
                               "correct_bm25": correct}  # fmt: skip
            name = f"linear, bm25 weight {w}, bm25 query {'corrected' if correct else 'as typed'}"
            routes[name] = ranking(searcher, covered, "hybrid")
            say(f"  {name}: {routes[name]}")
    searcher.fusion = shipped
    found = rerank.available(cfg, idx)
    if found is not None:
        searcher.reranker = Memo(found)
        for depth in DEPTHS:
            for weight in RERANK_WEIGHTS:
                searcher.rerank_config = {"depth": depth, "weight": weight}
                name = f"rerank depth {depth}, weight {weight}"
                routes[name] = ranking(searcher, covered, "rerank")
                say(f"  {name}: {routes[name]}")
    out = {
        "_doc": __doc__.splitlines()[0] + " Rerun: python -m coach.search.training.routes",
        "split": "dev",
        "in_scope_queries": len(covered),
        "shipped_fusion": shipped,
        "reranker": getattr(found, "name", None),
        "routes": routes,
        "scope": scope_routes(searcher, dev) if found is not None else None,
    }
    text = json.dumps(out, indent=1) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


def scope_routes(searcher, dev: list[dict]) -> dict:
    """ROC AUC of the scope score (as the scope model file computes it) and of the reranker's
    best probability over the top sections (answerability), in scope = positive."""
    ins, outs = {"lr": [], "answerability": []}, {"lr": [], "answerability": []}
    for row in dev:
        res = searcher.search(row["user_input"], k=10, mode="rerank")
        side = ins if row["in_scope"] else outs
        side["lr"].append(res.scope_score)
        side["answerability"].append(res.answerability)
    return {name: round(roc_auc(ins[name], outs[name]), 4) for name in ins}


if __name__ == "__main__":
    raise SystemExit(main())
