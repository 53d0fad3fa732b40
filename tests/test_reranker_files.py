"""The reranker's data and files without training it (tests/test_rerank_real.py trains one):
the labeller asks the model only about pairs whose relevance is not known by construction, half
the out-of-scope questions are kept for the scope model, `coach doctor`'s description reads the
shipped weights' header and rejects truncated or stale ones, and the rerank settings are checked.
Also: a grading report's stored signals replay to its scores (scripts/fit_grader.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from coach.errors import SetupError
from coach.interview.grade import GradeSettings, replay
from coach.llm import FakeGenerator
from coach.search import scope
from coach.search.minilm_reranker import LABELS_PATH, QUERIES_PATH, data_hash, describe
from coach.search.training.labels import held_for_scope, label
from tests.conftest import REPO


def test_the_labeller_asks_only_about_pairs_not_known_by_construction(tmp_path):
    pairs = [
        {"text": "what is rope", "section": "Q13", "chunk_id": "Q13#0", "gold": True,
         "partial": False, "out_of_scope": False},
        {"text": "what is rope", "section": "Q14", "chunk_id": "Q14#0", "gold": False,
         "partial": False, "out_of_scope": False},
        {"text": "how do I bake bread", "section": "Q01", "chunk_id": "Q01#0", "gold": False,
         "partial": False, "out_of_scope": True},
    ]  # fmt: skip
    gen = FakeGenerator([{"yes": 0.9, "no": 0.1}])
    out = tmp_path / "labels.jsonl"
    assert label(pairs, gen, lambda cid: f"passage {cid}", out) == 1
    assert len(gen.calls) == 1 and "what is rope" in gen.calls[0]["messages"][-1]["content"]
    rows = {(r["text"], r["chunk_id"]): r["llm"] for r in map(json.loads, out.open())}
    assert rows == {
        ("what is rope", "Q13#0"): None,
        ("what is rope", "Q14#0"): 0.9,
        ("how do I bake bread", "Q01#0"): None,
    }
    assert label(pairs, gen, lambda cid: "x", out) == 0 and len(gen.calls) == 1  # resumable


def test_half_the_out_of_scope_questions_are_kept_for_the_scope_model():
    negatives = scope.load_negatives()
    share = sum(map(held_for_scope, negatives)) / len(negatives)
    assert 0.4 < share < 0.6


def _overlay(directory, data_key: str) -> None:
    from safetensors.numpy import save_file

    directory.mkdir(exist_ok=True)
    save_file(
        {"head.weight": np.zeros((1, 4), dtype=np.float16)}, str(directory / "overlay.safetensors")
    )
    (directory / "model.json").write_text(json.dumps({"data_hash": data_key, "layers": 2}))


def test_describe_reads_the_header_and_rejects_truncated_or_stale_weights(tmp_path):
    current = data_hash(QUERIES_PATH, LABELS_PATH)
    good = tmp_path / "good"
    _overlay(good, current)
    assert current in describe(good) and "2 trained layers" in describe(good)
    cut = tmp_path / "cut"
    _overlay(cut, current)
    path = cut / "overlay.safetensors"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(SetupError, match="truncated"):
        describe(cut)
    stale = tmp_path / "stale"
    _overlay(stale, "0123456789abcdef")
    with pytest.raises(SetupError, match="--train-reranker"):
        describe(stale)
    with pytest.raises(SetupError, match="model.json"):
        describe(tmp_path / "missing")


def test_answerability_moves_the_decision_by_its_own_threshold():
    params = {"threshold": 0.0, "answerability": {"weight": 1.0, "threshold": 1.0}}
    assert scope.with_answerability(0.5, None, params) == (0.5, 0.0)  # not reranked: base
    score, cut = scope.with_answerability(0.5, 0.9, params)
    assert cut == 1.0 and score == pytest.approx(0.5 + np.log(9))


@pytest.mark.parametrize("split", ["dev", "test"])
def test_a_grading_report_replays_to_its_scores(split):
    report = json.loads((REPO / "evals" / "grading" / f"report-{split}.json").read_text())
    rows = [r for r in report["rows"] if "answer_injection" not in r["flags"]]
    assert len(rows) > 100
    for r in rows:
        assert replay(r["signals"], r["weights"], len(r["errors"]), GradeSettings()) == r["score"]
