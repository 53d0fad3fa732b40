"""The reranker for real: `coach index --train-reranker`'s training path
(coach/search/training/reranker.py `ensure_trained`: overlap split, hard negatives from hybrid
search, `train_cross_encoder`, the cached model directory), then `CrossEncoderReranker.score`
and `Searcher.search(mode="rerank")` with the model it trained.

The corpus is tiny so this stays within a couple of CPU-minutes: the synthetic questions of twelve
handbook sections plus two planted questions, 100 steps at 128 tokens. The CLI wiring around it
is tested fast, with a fake trainer, in test_cli.py.
"""

from __future__ import annotations

import json

import pytest

from coach.config import load_config
from coach.search import CrossEncoderReranker, Searcher, ensure_index, rerank
from coach.search.training import reranker as training
from coach.search.training.reranker import _bucket

pytestmark = pytest.mark.real

SECTIONS = {f"Q{i:02d}" for i in range(1, 13)}
STEPS, MAX_LENGTH = 100, 128
# Questions no synthetic row asks, planted (twice each) in the training data for Q05's first
# chunk (tokenization). The untrained head ranks other sections first for them (Q12, Q02).
PLANTED = [
    {
        "chunk_id": "Q05#0",
        "question_id": "Q05",
        "style": "planted",
        "seed": 0,
        "text": text,
    }
    for text in (
        "planted probe: why does splitting text into subword pieces change what a model costs",
        "planted probe: how do subword pieces change an LLM's bill and its behaviour",
    )
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_index_dir):
    """Train through `ensure_trained` on the tiny corpus, beside a link to the shared index."""
    assert all(_bucket(p["text"]) != 0 for p in PLANTED)  # planted rows land in train
    index_dir = tmp_path_factory.mktemp("rerank-index")
    (index_dir / "current").symlink_to((shared_index_dir / "current").resolve())
    cfg = load_config(index_dir=index_dir)
    idx = ensure_index(cfg).index
    rows = [r for r in training.load_synthetic() if r["question_id"] in SECTIONS]
    small = {"train": {"steps": STEPS, "n_neg": 3, "max_length": MAX_LENGTH}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training, "load_synthetic", lambda: [*rows, *PLANTED, *PLANTED])
        mp.setattr(training, "defaults", lambda: small)
        said: list[str] = []
        out = training.ensure_trained(cfg, idx, progress=said.append)
    return cfg, idx, out, said


def test_training_lowers_the_loss_and_ranks_the_planted_pair_first(trained):
    cfg, idx, out, said = trained
    report = json.loads((out / "train_report.json").read_text())
    assert report["steps"] == STEPS and report["train_examples"] > 50
    assert report["dev_examples"] > 5
    # The loss falls: on the training batches (first vs last 25 steps) and on held-out questions.
    curve = report["loss_curve"]
    assert len(curve) == STEPS // 25 and curve[-1] < curve[0]
    assert report["dev_loss_after"] < report["dev_loss_before"]
    assert report["dev_acc_after"] >= report["dev_acc_before"]
    assert any("dev after" in line for line in said)
    # The cached directory is the one search finds (rerank.available), not a stray copy.
    found = rerank.available(cfg, idx)
    assert found is not None and found.path == out and found.train_seconds == report["seconds"]
    # Each planted question ranks its section first among every chunk of the tiny corpus.
    chunks = [c for c in idx.chunks if c.question_id in SECTIONS]
    for planted in PLANTED:
        scores = found.score(planted["text"], [c.text for c in chunks])
        assert len(scores) == len(chunks)
        best = max(range(len(chunks)), key=scores.__getitem__)
        assert chunks[best].question_id == planted["question_id"], (chunks[best].id, planted)
    assert found.score(PLANTED[0]["text"], []) == []


def test_rerank_search_ranks_by_the_trained_models_scores(trained):
    cfg, idx, out, _ = trained
    model = CrossEncoderReranker(out, MAX_LENGTH)
    searcher = Searcher(cfg, reranker=model)
    query = "what is the difference between a base model and an instruction tuned model"
    hybrid = searcher.search(query, k=10, mode="hybrid")
    res = searcher.search(query, k=10, mode="rerank")
    assert "rerank_s" in res.timing and "rerank_s" not in hybrid.timing
    # The final score of each hit is the reranker's score of its chunk...
    direct = model.score(query, [idx.by_id[h.chunk_id].text for h in res.hits])
    assert [h.score for h in res.hits] == pytest.approx(direct, abs=1e-4)
    assert [h.score for h in res.hits] == sorted((h.score for h in res.hits), reverse=True)
    assert [h.rank for h in res.hits] == list(range(1, len(res.hits) + 1))
    # ...over the fused head only (rerank_depth chunks), one hit per section.
    assert len({h.id for h in res.hits}) == len(res.hits)
    fused = searcher._linear(searcher.signals(searcher.prepare(query)))
    head = sorted(fused, key=lambda c: (-fused[c], c))[: cfg.rerank_depth]
    assert {h.chunk_id for h in res.hits} <= set(head)
    # Reranking reorders: the scores are not the fused ones, and the scope decision is the same.
    assert [h.score for h in res.hits] != [h.score for h in hybrid.hits]
    assert res.in_scope == hybrid.in_scope and res.scope_score == hybrid.scope_score
    # The planted questions find their section through the whole pipeline.
    for planted in PLANTED:
        assert searcher.search(planted["text"], k=3, mode="rerank").hits[0].id == "Q05"
