"""The reranker for real, on a tiny corpus: the trainer (coach/search/training/reranker.py)
lowers the held-out loss and learns a planted pair; `MiniLMReranker.score` reads what it wrote;
`Searcher.search(mode="rerank")` interpolates its probabilities with the fused score.

Tiny on purpose (a few CPU-minutes): the synthetic questions of twelve sections as labelled
queries, their hybrid top sections as candidates, and a planted query repeated in training.
"""

from __future__ import annotations

import json

import pytest

from coach.config import load_config
from coach.search import Searcher, ensure_index, load_synthetic
from coach.search.minilm_reranker import MiniLMReranker
from coach.search.searcher import interpolate
from coach.search.training import reranker as training
from coach.search.training.labels import candidate_pairs

pytestmark = pytest.mark.real

SECTIONS = {f"Q{i:02d}" for i in range(1, 13)}
PLANTED = "planted probe: why would splitting words into pieces change what my API bill says"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_index_dir):
    cfg = load_config(index_dir=shared_index_dir)
    idx = ensure_index(cfg).index
    searcher = Searcher(cfg, use_reranker=False)
    queries = [
        {"text": r["text"], "sections": [r["question_id"]]}
        for r in load_synthetic()
        if r["question_id"] in SECTIONS
    ][:80]
    queries += [{"text": f"{PLANTED} ({i})", "sections": ["Q05"]} for i in range(6)]
    rows = [{**p, "llm": None} for p in candidate_pairs(queries, searcher, depth=4)]
    out = tmp_path_factory.mktemp("reranker")
    said: list[str] = []
    report = training.train(
        rows, lambda cid: idx.by_id[cid].text, out, epochs=3.0, progress=said.append
    )
    return cfg, idx, out, report, said


def test_training_lowers_the_held_out_loss_and_writes_the_overlay(trained):
    _, _, out, report, said = trained
    assert report["dev_loss_after"] < report["dev_loss_before"]
    assert report["dev_first_after"] >= report["dev_first_before"]
    assert json.loads((out / "model.json").read_text())["steps"] == report["steps"]
    assert (out / "overlay.safetensors").stat().st_size < 50 * 2**20  # small enough to ship
    assert any("dev after" in line for line in said)


def test_the_planted_query_ranks_its_section_first(trained):
    _, idx, out, _, _ = trained
    model = MiniLMReranker(out)
    chunks = [c for c in idx.chunks if c.question_id in SECTIONS]
    scores = model.score(f"{PLANTED} (0)", [c.text for c in chunks])
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert chunks[max(range(len(chunks)), key=scores.__getitem__)].question_id == "Q05"


def test_rerank_mode_interpolates_with_the_fused_score(trained):
    cfg, idx, out, _, _ = trained
    model = MiniLMReranker(out)
    searcher = Searcher(cfg, reranker=model)
    query = "how does subword tokenization affect cost"
    hybrid = searcher.search(query, k=10, mode="hybrid")
    reranked = searcher.search(query, k=10, mode="rerank")
    assert reranked.answerability is not None and 0.0 <= reranked.answerability <= 1.0
    assert hybrid.answerability is None
    assert reranked.in_scope == hybrid.in_scope  # the scope decision does not depend on mode
    fused = {h.chunk_id: h.score for h in hybrid.hits}
    head = {h.chunk_id for h in reranked.hits[:3]}
    assert head <= set(fused) | {c.id for c in idx.chunks}
    assert interpolate({"a": 1.0}, {"a": 0.0}, 0.25) == {"a": 0.75}
