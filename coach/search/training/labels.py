"""Graded relevance labels for the reranker, distilled from the local model (corpus/
reranker_labels.jsonl; regenerate with `python -m coach.search.training.labels`).

For each training query (corpus/reranker_queries.jsonl: written per section in many styles,
decontaminated against every eval set), the candidates are the serving pipeline's own top
sections (hybrid fusion, each section's best chunk, as the reranker will see them) plus every
section the query is labelled with. Each (query, passage) pair gets P(yes) from the 1.5B
model's next-token logits for "does this passage answer the question?", with the passage first
in the prompt: pairs are processed passage by passage, so llama.cpp reuses the cached passage
and each label costs only the question's short prefill (~0.5 s on 2 cores). Only the candidates
a query is not labelled with are asked: the labelled ones are relevant by construction, and the
model's graded verdict on the others tells a section that also answers (a label the author did
not list) from a true negative. Out-of-scope queries (the scope negatives: written as
questions the handbook does not answer) get their candidates as irrelevant by construction,
without a model call, like the labelled sections the other way round.
Resumable: an interrupted run keeps what it wrote.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from coach.config import load_config
from coach.search.minilm_reranker import LABELS_PATH, QUERIES_PATH

CANDIDATES = 5  # top fused sections per query, besides its labelled ones
SYSTEM = (
    "You judge search results for an interview-preparation handbook. Given a handbook passage "
    "and a question, answer yes if the passage answers the question (fully or in good part), "
    "no otherwise. Answer with one word: yes or no."
)


def held_for_scope(text: str) -> bool:
    """Half the out-of-scope queries, by a hash of the text, are kept out of the reranker's
    training: the scope model fits the weight of the reranker's answerability on them, so it
    never learns from questions the reranker was taught to reject."""
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 2 == 1


def load_queries(path: Path = QUERIES_PATH) -> list[dict]:
    """{"text", "sections": [...], "partial", "style"}; scope negatives have no sections."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def candidate_pairs(queries: list[dict], searcher, depth: int = CANDIDATES) -> list[dict]:
    """(query, section, chunk) pairs: the fused top `depth` sections plus the labelled ones."""
    pairs = []
    for q in queries:
        res = searcher.search(q["text"], k=depth, mode="hybrid")
        chosen = {h.id: h.chunk_id for h in res.hits}
        best = _best_chunks(searcher, q["text"], q.get("sections", []))
        for sid in q.get("sections", []):
            chosen.setdefault(sid, best[sid])
        for sid, chunk_id in chosen.items():
            pairs.append(
                {
                    "text": q["text"],
                    "section": sid,
                    "chunk_id": chunk_id,
                    "gold": sid in q.get("sections", []),
                    "partial": bool(q.get("partial")),
                    "out_of_scope": not q.get("sections"),
                }
            )
    return pairs


def _best_chunks(searcher, text: str, sections: list[str]) -> dict[str, str]:
    """Each labelled section's best chunk for the query (by the full fused ranking)."""
    if not sections:
        return {}
    res = searcher.search(text, k=60, mode="hybrid")
    found = {h.id: h.chunk_id for h in res.hits}
    idx = searcher.index
    first = {}
    for c in idx.chunks:
        first.setdefault(c.question_id, c.id)
    return {sid: found.get(sid, first[sid]) for sid in sections}


def label(pairs: list[dict], generator, chunk_text, out: Path, progress=None) -> int:
    """Append P(yes) for every pair not already in `out`; passage by passage for the cache."""
    done = set()
    if out.exists():
        for line in out.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                done.add((row["text"], row["chunk_id"]))
    by_chunk: dict[str, list[dict]] = defaultdict(list)
    with out.open("a", encoding="utf-8") as f:
        # Labelled sections and out-of-scope queries' candidates are known by construction:
        # no model call (0.5 s each on 2 cores).
        for p in pairs:
            if (p["gold"] or p["out_of_scope"]) and (p["text"], p["chunk_id"]) not in done:
                f.write(json.dumps({**p, "llm": None}, ensure_ascii=False) + "\n")
    for p in pairs:
        if not (p["gold"] or p["out_of_scope"]) and (p["text"], p["chunk_id"]) not in done:
            by_chunk[p["chunk_id"]].append(p)
    todo = sum(len(v) for v in by_chunk.values())
    n, start = 0, time.perf_counter()
    with out.open("a", encoding="utf-8") as f:
        for chunk_id, group in sorted(by_chunk.items()):
            passage = chunk_text(chunk_id)
            for p in group:
                messages = [
                    {"role": "system", "content": SYSTEM},
                    {
                        "role": "user",
                        "content": f"Passage:\n{passage}\n\nQuestion: {p['text']}\n"
                        "Does the passage answer the question?",
                    },
                ]
                yes = generator.choice_probabilities(messages, ("yes", "no"))["yes"]
                f.write(json.dumps({**p, "llm": round(yes, 4)}, ensure_ascii=False) + "\n")
                n += 1
            f.flush()
            if progress:
                rate = n / max(1e-9, time.perf_counter() - start)
                progress(f"  labelled {n}/{todo} pairs ({rate:.1f}/s)")
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="only the first N queries")
    args = ap.parse_args(argv)
    from coach.llm import get_generator
    from coach.search import Searcher, scope

    cfg = load_config()
    searcher = Searcher(cfg, use_reranker=False)
    idx = searcher.warm_up()
    queries = load_queries()
    negatives = [{"text": t, "sections": []} for t in scope.load_negatives()]
    queries = (queries + negatives)[: args.limit]
    pairs = candidate_pairs(queries, searcher)
    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    say(f"{len(queries)} queries, {len(pairs)} pairs")
    label(pairs, get_generator(cfg), lambda cid: idx.by_id[cid].text, LABELS_PATH, say)
    return 0


if __name__ == "__main__":
    sys.exit(main())
