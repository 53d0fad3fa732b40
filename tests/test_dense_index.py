"""The dense side of large collections (coach/search/ann.py) and the adding progress bar
(coach/cli/progress.py): the exact/approximate switch, candidate-set fusion against exact
search, the graph's persistence and checks, and the bar's formatting.

Vectors are small random or hashed ones (deterministic seeds); no model loads here."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from coach.cli.progress import ProgressPrinter, bar
from coach.config import load_config
from coach.errors import SetupError
from coach.search import HashEmbedder, ann
from coach.search import collections as cs
from coach.sources import add

pytestmark = pytest.mark.usefixtures("fresh_collection_caches")


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


# -- the rule ------------------------------------------------------------------------------


def test_the_switch_is_at_the_named_limit_and_the_searcher_follows_it(monkeypatch):
    assert ann.EXACT_MAX_CHUNKS == 20_000
    assert not ann.needs_graph(0) and not ann.needs_graph(ann.EXACT_MAX_CHUNKS)
    assert ann.needs_graph(ann.EXACT_MAX_CHUNKS + 1)
    index = synthetic_index(12)
    assert cs.CollectionSearcher([index], HashEmbedder(dim=16)).graph is None
    monkeypatch.setattr(ann, "EXACT_MAX_CHUNKS", 11)
    assert cs.CollectionSearcher([index], HashEmbedder(dim=16)).graph is not None


# -- candidate-set cosines ------------------------------------------------------------------


def test_candidate_cosines_are_exact_on_the_candidates_and_zero_elsewhere():
    rng = np.random.default_rng(0)
    vectors = unit(rng.normal(size=(300, 16)))
    graph = ann.build_graph(vectors)
    query = vectors[7]
    # Covering every chunk: exactly the product.
    everything = ann.candidate_cosines(graph, vectors, query, np.zeros(300), n=400)
    assert np.allclose(everything, vectors @ query)
    # A few candidates: the graph's nearest (chunk 7 itself first) and BM25's best (chunk 250,
    # far from the query vector) are exact; the rest count as not matching.
    bm25 = np.zeros(300)
    bm25[250] = 5.0
    cos = ann.candidate_cosines(graph, vectors, query, bm25, n=5)
    chosen = np.flatnonzero(cos)
    assert 7 in chosen and 250 in chosen and len(chosen) <= 10
    assert cos[7] == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(cos[chosen], vectors[chosen] @ query)


def synthetic_index(n: int, dim: int = 16, seed: int = 0) -> cs.CollectionIndex:
    """n chunks in n // 3 + 1 sections of up to three chunks, random unit vectors, two-word
    token lists from a small vocabulary (so BM25 and cosine disagree)."""
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]
    chunks, tokens = [], []
    for i in range(n):
        section = f"s{i // 3 + 1}"
        chunks.append(
            cs.Chunk(f"{section}#{i % 3 + 1}", section, section, "a.md", "/a.md", (), 0, 1, "x")
        )
        tokens.append((words[i % 6], words[(i * 7) % 5]))
    vectors = unit(rng.normal(size=(n, dim)))
    return cs.CollectionIndex("big", None, {}, tuple(chunks), vectors, tuple(tokens))


class VectorEmbedder:
    """Embeds a query as a fixed vector (the query text is only a key)."""

    name = "fixed"
    dim = 16

    def __init__(self, table: dict[str, np.ndarray]):
        self.table = table

    def embed(self, texts):
        return np.stack([self.table[t] for t in texts])


def test_with_candidates_covering_everything_the_ranking_equals_exact(monkeypatch):
    index = synthetic_index(90)
    rng = np.random.default_rng(1)
    table = {f"alpha gamma {i}": unit(rng.normal(size=(1, 16)))[0] for i in range(20)}
    exact = cs.CollectionSearcher([index], VectorEmbedder(table))
    monkeypatch.setattr(ann, "EXACT_MAX_CHUNKS", 50)
    monkeypatch.setattr(ann, "CANDIDATES", 128)  # > 90 chunks: every chunk is a candidate
    approx = cs.CollectionSearcher([index], VectorEmbedder(table))
    assert exact.graph is None and approx.graph is not None
    for query in table:
        want, got = exact.search(query, k=10), approx.search(query, k=10)
        assert [(h.id, h.chunk_id) for h in got.hits] == [(h.id, h.chunk_id) for h in want.hits]
        assert [h.score for h in got.hits] == pytest.approx([h.score for h in want.hits])
        assert got.in_scope == want.in_scope


def test_with_few_candidates_the_top_sections_still_match_exact(monkeypatch):
    """The graph's own candidates default size, on a query close to one chunk: the sections that
    matter (the best few) rank as in exact search."""
    index = synthetic_index(3000, seed=2)
    target = index.vectors[1234]
    table = {"alpha gamma": target}
    exact = cs.CollectionSearcher([index], VectorEmbedder(table))
    monkeypatch.setattr(ann, "EXACT_MAX_CHUNKS", 1000)
    monkeypatch.setattr(ann, "CANDIDATES", 64)
    approx = cs.CollectionSearcher([index], VectorEmbedder(table))
    want, got = exact.search("alpha gamma", k=3), approx.search("alpha gamma", k=3)
    assert got.hits[0].chunk_id == want.hits[0].chunk_id == "big:s412#2"
    assert [h.id for h in got.hits] == [h.id for h in want.hits]


# -- persistence -----------------------------------------------------------------------------


def test_a_graph_round_trips_through_bytes_with_its_search_setting():
    vectors = unit(np.random.default_rng(3).normal(size=(200, 16)))
    graph = ann.build_graph(vectors)
    again = ann.load_graph(ann.graph_bytes(graph))
    assert again.hnsw.efSearch == ann.HNSW_EF_SEARCH and again.ntotal == 200
    a, b = graph.search(vectors[:5], 10), again.search(vectors[:5], 10)
    assert np.array_equal(a[1], b[1])


NOTES = "# Notes\n\n" + "\n\n".join(
    f"## Topic {i}\n\nSome words about topic {i} and its details." for i in range(6)
)


def test_a_large_index_without_its_graph_file_is_damaged_not_silently_exact(tmp_path, monkeypatch):
    cfg = load_config()
    doc = tmp_path / "notes.md"
    doc.write_text(NOTES, encoding="utf-8")
    add(cfg, "notes", [doc])
    monkeypatch.setattr(ann, "EXACT_MAX_CHUNKS", 3)
    build = cs.ensure_index(cfg, "notes", HashEmbedder(dim=64))
    folder = build.index.path
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["chunks"] > 3 and ann.FILE in manifest["files"]
    # Dropping the graph from the directory and the manifest alike still fails the size check.
    (folder / ann.FILE).unlink()
    del manifest["files"][ann.FILE]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    cs._LOADED.clear()
    with pytest.raises(SetupError, match="do not match its size"):
        cs.ensure_index(cfg, "notes", HashEmbedder(dim=64))
    # A rebuild restores it.
    rebuilt = cs.ensure_index(cfg, "notes", HashEmbedder(dim=64), rebuild=True)
    assert (rebuilt.index.path / ann.FILE).is_file() and rebuilt.index.graph is not None


# -- the progress bar --------------------------------------------------------------------------


def test_the_bar_shows_share_rate_and_time_left():
    # No rate yet: no made-up time left.
    assert bar(0, 100, 0.0) == "[............................]   0%  0/100 chunks  0.0 chunks/s"
    assert bar(50, 100, 10.0).endswith("50%  50/100 chunks  10.0 chunks/s  ~5 s left")
    assert bar(1000, 20000, 24.0).endswith("~13 min left")  # 792 s
    assert bar(100, 100, 25.0) == (
        "[############################] 100%  100/100 chunks  25.0 chunks/s  done"
    )
    assert bar(0, 0, 0.0).startswith("[" + "#" * 28 + "] 100%")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_message_mid_bar_starts_its_own_line_and_the_callback_stays_a_plain_callable():
    tty = Terminal()
    printer = ProgressPrinter(tty)
    lines = ["    embedded 256/1000 chunks (25.0 chunks/s)", "    building the HNSW graph"]
    for line in lines:
        printer(line)
    assert tty.getvalue() == (f"\r    {bar(256, 1000, 25.0)}\n    building the HNSW graph\n")
    assert not printer.open_bar
    # The same callback a library caller (the UI) passes: any str -> None callable works.
    seen: list[str] = []
    cs._embed(HashEmbedder(dim=8), ["a"] * 300, seen.append)
    assert [s.strip() for s in seen][-1].startswith("embedded 300/300 chunks (")
