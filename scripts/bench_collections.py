"""Scale benchmark for your own material (a script, not a timed test; issue 18 part 5):

1. add: a synthetic 500-page document through the real path (coach.sources.add, then the
   collection index with the real MiniLM) in a throwaway COACH_HOME: seconds, chunks, chunks/s.
   Pages are ~3,000 characters of prose recombined from the handbook's sentences and the
   Python tutorial's (when python3.11-doc is installed), one "## Page N" heading each.
2. search at 20,000 chunks: hybrid p50/p95 over 200 queries, the query's embedding included.
   Embedding 20k chunks takes ~15 minutes here, so the collection is the 500-page document's
   real chunks and vectors, copied with light noise (re-normalised) and word drops up to
   20,000: the same shapes, lengths and vocabulary, cheaper to make. The figures measure the
   code's cost at that size, not retrieval quality.
3. approximate vs exact: recall@10 of the HNSW graph (coach/search/ann.py) against the exact
   product at 50k and 100k such vectors, with build, load and query times and sizes, beside
   IVF-Flat (the alternative not taken) at two nprobe settings.
4. search past the limit: the whole hybrid search at 100,000 chunks through the graph and BM25
   candidates (p50/p95), and how many of its top-10 sections the exact search also returns.

    .venv/bin/python scripts/bench_collections.py [--out evals/collections/scale.json]

Run it on an otherwise idle machine: on 2 cores, any other load skews every figure.
"""

# ruff: noqa: I001 -- the coach is imported first, as in the product: it sets the environment
# (one BLAS thread, see coach/offline.py) before numpy loads.
from __future__ import annotations

import coach  # noqa: F401
import argparse
import copy
import dataclasses
import json
import os
import platform
import random
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from coach.config import load_config
from coach.evals import percentile
from coach.search import ann
from coach.search import collections as cs
from coach.search.embed import default_embedder
from coach.sources import add

PAGES = 500
PAGE_CHARS = 3000
TARGET_CHUNKS = 20_000
QUERIES = 200
IVF_NPROBE = (8, 32)
TUTORIAL = Path("/usr/share/doc/python3.11/html/tutorial")


def _sentences(cfg) -> list[str]:
    from coach.sources import read_document

    texts = [(cfg.corpus_dir / "handbook.txt").read_text(encoding="utf-8")]
    for path in sorted(TUTORIAL.glob("*.html")):
        texts.append(read_document(path, path.name).text)
    found = []
    for text in texts:
        found += [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 40 < len(s) < 400]
    return found


def synthetic_document(cfg, path: Path, rng: random.Random) -> list[str]:
    """Write the 500-page Markdown file; return its sentences (query material)."""
    sentences = _sentences(cfg)
    pages = []
    for n in range(1, PAGES + 1):
        body, size = [], 0
        while size < PAGE_CHARS:
            paragraph = " ".join(rng.sample(sentences, 4))
            body.append(paragraph)
            size += len(paragraph)
        pages.append(f"## Page {n}\n\n" + "\n\n".join(body))
    path.write_text("# Synthetic book\n\n" + "\n\n".join(pages) + "\n", encoding="utf-8")
    return sentences


def bench_add(cfg, tmp: Path, rng: random.Random) -> tuple[dict, cs.CollectionIndex, list[str]]:
    doc = tmp / "book.md"
    sentences = synthetic_document(cfg, doc, rng)
    embedder = default_embedder()
    embedder.warm_up()  # loading MiniLM (~5 s) is not adding
    t0 = time.perf_counter()
    summary = add(cfg, "book", [doc])
    build = cs.ensure_index(cfg, "book", embedder)
    seconds = time.perf_counter() - t0
    return (
        {
            "pages": PAGES,
            "characters": doc.stat().st_size,
            "sections": summary.sections,
            "chunks": len(build.index.chunks),
            "seconds": round(seconds, 1),
            "embedding_chunks_per_s": build.chunks_per_s,
            "target_seconds": 300,
        },
        build.index,
        sentences,
    )


def _grow(index: cs.CollectionIndex, size: int, rng: np.random.Generator) -> tuple:
    """Chunks, vectors and tokens copied with noise up to `size` (section ids kept unique)."""
    chunks, vecs, tokens = list(index.chunks), [index.vectors], list(index.tokens)
    copy = 0
    while len(chunks) < size:
        copy += 1
        take = min(len(index.chunks), size - len(chunks))
        noisy = index.vectors[:take] + rng.normal(0, 0.05, index.vectors[:take].shape)
        vecs.append((noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32))
        for c, t in zip(index.chunks[:take], index.tokens[:take], strict=True):
            chunks.append(
                dataclasses.replace(c, id=f"c{copy}{c.id}", section=f"c{copy}{c.section}")
            )
            tokens.append(tuple(w for w in t if rng.random() > 0.15))
    return tuple(chunks), np.concatenate(vecs), tuple(tokens)


def bench_search(index: cs.CollectionIndex, queries: list[str], rng) -> dict:
    chunks, vectors, tokens = _grow(index, TARGET_CHUNKS, rng)
    big = dataclasses.replace(index, chunks=chunks, vectors=vectors, tokens=tokens, graph=None)
    searcher = cs.CollectionSearcher([big], default_embedder())
    searcher.search("warm up")
    times, stages = [], {"embed_s": [], "bm25_s": [], "dense_s": [], "fusion_s": []}
    for q in queries:
        t0 = time.perf_counter()
        result = searcher.search(q, k=5)
        times.append((time.perf_counter() - t0) * 1000)
        for k in stages:
            stages[k].append(result.timing[k] * 1000)
    return {
        "chunks": len(chunks),
        "dense": "exact" if searcher.graph is None else "hnsw",
        "queries": len(queries),
        "p50_ms": round(percentile(times, 50), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "stage_p50_ms": {k: round(percentile(v, 50), 2) for k, v in stages.items()},
        "target_p95_ms": 50,
    }


def _recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(e)) / 10 for a, e in zip(found, exact, strict=True)]))


def _ivf(vectors: np.ndarray, qv: np.ndarray, exact: np.ndarray) -> dict:
    """The alternative to HNSW, for the record: IVF-Flat, nlist = 4 sqrt(n), at IVF_NPROBE."""
    import faiss

    nlist = int(4 * np.sqrt(len(vectors)))
    t0 = time.perf_counter()
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    ivf = faiss.IndexIVFFlat(quantizer, vectors.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors)
    ivf.add(vectors)
    build_s = time.perf_counter() - t0
    out = {"nlist": nlist, "build_s": round(build_s, 1),
           "bytes": len(faiss.serialize_index(ivf).tobytes())}  # fmt: skip
    for nprobe in IVF_NPROBE:
        ivf.nprobe = nprobe
        t0 = time.perf_counter()
        _s, found = ivf.search(qv, 10)
        ms = (time.perf_counter() - t0) * 1000 / len(qv)
        out[f"nprobe_{nprobe}"] = {"recall@10": round(_recall(found, exact), 4),
                                   "ms_per_query": round(ms, 2)}  # fmt: skip
    return out


def bench_ann(index: cs.CollectionIndex, queries: list[str], rng, sizes=(50_000, 100_000)) -> list:
    qv = np.asarray(default_embedder().embed(queries), dtype=np.float32)
    out = []
    for size in sizes:
        _chunks, vectors, _tokens = _grow(index, size, rng)
        t0 = time.perf_counter()
        graph = ann.build_graph(vectors)
        build_s = time.perf_counter() - t0
        data = ann.graph_bytes(graph)
        t0 = time.perf_counter()
        ann.load_graph(data)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        exact = np.argsort(-(qv @ vectors.T), axis=1)[:, :10]
        exact_ms = (time.perf_counter() - t0) * 1000 / len(qv)
        t0 = time.perf_counter()
        _s, approx = graph.search(qv, 10)
        approx_ms = (time.perf_counter() - t0) * 1000 / len(qv)
        out.append(
            {
                "vectors": size,
                "recall@10": round(_recall(approx, exact), 4),
                "build_s": round(build_s, 1),
                "load_s": round(load_s, 3),
                "vectors_bytes": vectors.nbytes,
                "graph_bytes": len(data),
                "exact_ms_per_query": round(exact_ms, 2),
                "hnsw_ms_per_query": round(approx_ms, 2),
                "params": {"M": ann.HNSW_M, "efConstruction": ann.HNSW_EF_CONSTRUCTION,
                           "efSearch": ann.HNSW_EF_SEARCH},
                "ivf_flat": _ivf(vectors, qv, exact),
            }
        )  # fmt: skip
    return out


def bench_search_hnsw(index: cs.CollectionIndex, queries: list[str], rng, size: int) -> dict:
    """The whole hybrid search past the limit: graph and BM25 candidates, exact cosines."""
    chunks, vectors, tokens = _grow(index, size, rng)
    graph = ann.build_graph(vectors)
    big = dataclasses.replace(index, chunks=chunks, vectors=vectors, tokens=tokens, graph=graph)
    searcher = cs.CollectionSearcher([big], default_embedder())
    plain = copy.copy(searcher)  # the same searcher with exact cosines over every chunk
    plain.graph = None
    searcher.search("warm up")
    times, same, stages = [], [], {"embed_s": [], "bm25_s": [], "dense_s": [], "fusion_s": []}
    for q in queries:
        t0 = time.perf_counter()
        result = searcher.search(q, k=10)
        times.append((time.perf_counter() - t0) * 1000)
        for k in stages:
            stages[k].append(result.timing[k] * 1000)
        want = {h.id for h in plain.search(q, k=10).hits}
        same.append(len(want & {h.id for h in result.hits}) / max(len(want), 1))
    return {
        "chunks": len(chunks),
        "dense": "hnsw" if searcher.graph is not None else "exact",
        "candidates": ann.CANDIDATES,
        "queries": len(queries),
        "p50_ms": round(percentile(times, 50), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "section_overlap@10_vs_exact": round(float(np.mean(same)), 4),
        "stage_p50_ms": {k: round(percentile(v, 50), 2) for k, v in stages.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    rng = random.Random(0)
    nrng = np.random.default_rng(0)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        # Other processes on the 2 cores inflate every figure: the 1-minute load average
        # before the run and after each stage says how idle the machine was.
        "load_avg_1m": {"start": os.getloadavg()[0]},
        "date": time.strftime("%Y-%m-%d"),
        "rule": f"exact up to {ann.EXACT_MAX_CHUNKS} chunks, HNSW beyond (coach/search/ann.py)",
    }
    with tempfile.TemporaryDirectory() as tmp:
        cfg = dataclasses.replace(load_config(), home=Path(tmp) / "home")
        report["add_500_pages"], index, sentences = bench_add(cfg, Path(tmp), rng)
        print(json.dumps(report["add_500_pages"]))
        report["load_avg_1m"]["add_500_pages"] = os.getloadavg()[0]
        queries = [" ".join(s.split()[:12]) for s in rng.sample(sentences, QUERIES)]
        report["search_20k"] = bench_search(index, queries, nrng)
        print(json.dumps(report["search_20k"]))
        report["load_avg_1m"]["search_20k"] = os.getloadavg()[0]
        report["hnsw_vs_exact"] = bench_ann(index, queries[:100], nrng)
        print(json.dumps(report["hnsw_vs_exact"]))
        report["load_avg_1m"]["hnsw_vs_exact"] = os.getloadavg()[0]
        report["search_100k"] = bench_search_hnsw(index, queries[:100], nrng, 100_000)
        print(json.dumps(report["search_100k"]))
        report["load_avg_1m"]["search_100k"] = os.getloadavg()[0]
    text = json.dumps(report, indent=2) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
