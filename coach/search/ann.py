"""The dense side of a large collection: exact up to EXACT_MAX_CHUNKS, approximate beyond.

The rule: a collection index of at most EXACT_MAX_CHUNKS chunks is searched exactly (a numpy
product over every vector, what FAISS IndexFlatIP computes); a larger one also gets an HNSW
graph (faiss IndexHNSWFlat, inner product, M = HNSW_M), built with the index and saved in its
directory as `hnsw.faiss`. The threshold is the size the issue sets the latency budget at:
on this 2-core machine the whole hybrid search at 20,000 chunks takes p50 15.8 / p95 18.7 ms
(budget 50), of which the exact product is 2.5 ms and the query's embedding 11.6 ms
(evals/collections/scale.json); at 100,000 vectors the exact product alone is 7.6 ms a query
and the graph's 0.3 ms. HNSW over IVF: no training step, no recall cliff when a collection
grows past the data its centroids were trained on, and better recall for the time: recall@10
against the exact product at efSearch = HNSW_EF_SEARCH is 0.994 at 50,000 vectors and 0.980 at
100,000 (0.2-0.5 ms a query), where IVF-Flat (nlist = 4 sqrt(n)) reached 0.87 / 0.89 at
nprobe 32 in the same time and 0.71 / 0.72 at nprobe 8 (evals/collections/scale-under-load.json:
recall does not depend on load; its times are upper bounds). Whole hybrid searches through the
graph agree with exact search on 98.9% of their top-10 sections at 100,000 chunks.

The graph is saved, not rebuilt at load: building it took 8 s at 50,000 vectors and 36 s at
100,000 on a loaded machine (6 / 17 s idle), reading it back 0.1 / 0.2 s. The file repeats
the vectors (IndexHNSWFlat stores its own copy): 90 MB at 50,000, 181 MB at 100,000.

With the graph, section fusion still needs a cosine per chunk; it computes exact cosines for a
candidate set only -- the graph's top CANDIDATES chunks and BM25's top CANDIDATES -- and treats
every other chunk as not matching (cosine 0). Their section scores then rest on BM25 alone,
which is how far down they would rank anyway.
Leaves out: quantisation (384 floats x 100k chunks is 150 MB, fine for 24 GiB), and sharing
the vectors between dense.npy and the graph file (twice the disk past the limit).
"""

from __future__ import annotations

import numpy as np

EXACT_MAX_CHUNKS = 20_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
CANDIDATES = 256
FILE = "hnsw.faiss"


def needs_graph(chunks: int) -> bool:
    """The documented rule: approximate search beyond EXACT_MAX_CHUNKS.

    >>> needs_graph(20_000), needs_graph(20_001)
    (False, True)
    """
    return chunks > EXACT_MAX_CHUNKS


def build_graph(vectors: np.ndarray):
    """An HNSW graph over L2-normalised vectors (inner product = cosine)."""
    import faiss

    graph = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    graph.add(np.ascontiguousarray(vectors, dtype=np.float32))
    graph.hnsw.efSearch = HNSW_EF_SEARCH
    return graph


def graph_bytes(graph) -> bytes:
    import faiss

    return faiss.serialize_index(graph).tobytes()


def load_graph(data: bytes):
    import faiss

    graph = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    graph.hnsw.efSearch = HNSW_EF_SEARCH
    return graph


def candidate_cosines(
    graph, vectors: np.ndarray, query: np.ndarray, bm25: np.ndarray, n: int = CANDIDATES
) -> np.ndarray:
    """Cosines for every chunk: exact on the graph's and BM25's top `n`, 0 elsewhere."""
    _scores, ids = graph.search(query.reshape(1, -1).astype(np.float32), n)
    lexical = np.argpartition(-bm25, min(n, len(bm25) - 1))[:n]
    chosen = np.union1d(ids[0][ids[0] >= 0], lexical)
    cos = np.zeros(len(vectors), dtype=np.float64)
    cos[chosen] = vectors[chosen] @ query
    return cos
