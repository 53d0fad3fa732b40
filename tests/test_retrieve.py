"""Hybrid search logic on the real handbook index with the deterministic HashEmbedder."""

import numpy as np
import pytest

from coach.config import load_config
from coach.search import HashEmbedder, Searcher, rrf


def test_rrf_hand_worked_example():
    # k=60: a doc ranked 1st by one retriever and 2nd by the other beats one ranked 1st only.
    s = rrf({"bm25": ["a", "b"], "dense": ["b", "a", "c"]})
    assert s["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert s["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert s["c"] == pytest.approx(1 / 63)
    weighted = rrf({"bm25": ["a"], "dense": ["b"]}, weights={"bm25": 2.0})
    assert weighted["a"] == pytest.approx(2 / 61) and weighted["b"] == pytest.approx(1 / 61)


@pytest.fixture
def searcher(coach_home):
    return Searcher(load_config(), embedder=HashEmbedder(), use_reranker=False)


def test_one_hit_per_section_ranked(searcher):
    res = searcher.search("LoRA QLoRA low-rank adapters", k=5)
    ids = [h.id for h in res.hits]
    assert len(ids) == len(set(ids)) == 5
    assert ids[0] == "Q32"
    assert [h.rank for h in res.hits] == [1, 2, 3, 4, 5]
    scores = [h.score for h in res.hits]
    assert scores == sorted(scores, reverse=True)
    assert res.to_json()["hits"][0]["chunk_id"].startswith("Q32#")


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_modes_return_hits(searcher, mode):
    assert searcher.search("softmax temperature", k=3, mode=mode).hits


def test_timings_per_stage(searcher):
    res = searcher.search("beam search")
    assert {"embed_s", "faiss_s", "bm25_s", "fusion_s"} <= set(res.timing)


def test_linear_fusion_normalises_bm25_by_its_max():
    from coach.search import linear_fusion

    s = linear_fusion({"a": 8.0, "b": 2.0}, {"a": 0.1, "b": 0.5, "c": 0.4}, bm25_weight=0.3)
    assert s["a"] == pytest.approx(0.3 + 0.07)
    assert s["b"] == pytest.approx(0.3 * 0.25 + 0.35)
    assert s["c"] == pytest.approx(0.28)  # no BM25 match counts as 0
    assert linear_fusion({"a": 0.0}, {"a": 0.5}, 0.3) == {"a": 0.35}


def test_typos_reach_bm25_corrected(searcher):
    # The fake embedder knows nothing of typos: only the corrected BM25 query can find Q29.
    sig = searcher.signals(searcher.prepare("vanshing gradeint"))
    assert sig["corrections"] == {"vanshing": "vanishing", "gradeint": "gradient"}
    res = searcher.search("vanshing gradeint", k=3, mode="bm25")
    assert res.hits[0].id == "Q29"


def test_hybrid_section_score_reaches_the_best_chunk(searcher):
    res = searcher.search("LoRA QLoRA low-rank adapters", k=50, mode="hybrid")
    ids = [h.id for h in res.hits]
    assert len(ids) == len(set(ids))  # one hit per section
    assert all(h.chunk_id.split("#")[0] == h.id for h in res.hits)


def test_bm25_postings_score_exactly_like_rank_bm25():
    import random

    from coach.search.lexical import BM25, tokenize

    rng = random.Random(3)
    vocab = ["lora", "rank", "top-p", "attention", "softmax", "gpt-4", "cache", "token", "x"]
    corpus = [tokenize(" ".join(rng.choices(vocab, k=rng.randint(0, 30)))) for _ in range(300)]
    bm25 = BM25(corpus)
    for query in ("lora rank rank", "top-p softmax", "gpt-4 unknownword", "", "the of"):
        expected = np.asarray(bm25._bm25.get_scores(tokenize(query)), dtype=np.float64)
        assert np.array_equal(bm25.scores(query), expected), query
