"""The grading and judge eval suites' arithmetic and plumbing, with scripted models."""

from __future__ import annotations

import json

import pytest

from coach.ask import Judge, JudgeSettings
from coach.config import load_config
from coach.evals import grading as grading_eval
from coach.evals import judge as judge_eval
from coach.evals import load_rows
from coach.guardrails import fake_guards
from coach.interview import Grader
from coach.llm import FakeGenerator
from coach.search import HashEmbedder


def test_ordered_pairs_counts_ties_as_wrong():
    rows = [
        {"id": "a", "question": "Q1", "quality": 3},
        {"id": "b", "question": "Q1", "quality": 2},
        {"id": "c", "question": "Q1", "quality": 0},
        {"id": "d", "question": "Q2", "quality": 0},
    ]
    result = grading_eval.ordered_pairs(rows, {"a": 8.0, "b": 5.0, "c": 5.0, "d": 9.0})
    assert result["pairs"] == 3 and result["correct"] == 2 and result["ties"] == 1
    assert result["misordered"] == [["b", "c"]]


def test_the_grading_set_is_frozen_by_question_and_complete():
    rows = load_rows(grading_eval.DATASET)
    test_qs = {r["question"] for r in rows if r["split"] == "test"}
    dev_qs = {r["question"] for r in rows if r["split"] == "dev"}
    assert len(test_qs) >= 25 and not test_qs & dev_qs
    ids = {r["id"] for r in rows}
    assert len(ids) == len(rows)
    for q in test_qs | dev_qs:
        levels = {r["level"] for r in rows if r["question"] == q and r["kind"] == "plain"}
        assert levels == set(grading_eval.LEVELS), q
    for r in rows:
        if r["kind"] == "injection":
            assert r["base"] in ids


def test_grading_eval_runs_end_to_end_with_a_scripted_model(coach_home):
    grader = Grader(
        load_config(),
        generator=FakeGenerator([{"yes": 0.6, "no": 0.4}] * 2000),
        embedder=HashEmbedder(),
        guards=fake_guards(),
    )
    result = grading_eval.run(load_config(), split="dev", limit=8, grader=grader)
    m = result["metrics"]
    assert result["n"] >= 8 and m["questions"] == 2
    assert m["repeat"]["identical"] == m["repeat"]["n"]
    assert set(m["by_level"]) == set(grading_eval.LEVELS)
    # The metric is Spearman's rho between the scores the report holds and the quality labels,
    # over the plain and about-injection rows that have one (recomputed with ranks by hand).
    report = json.loads(open(result["report"]).read())
    quality = {
        r["id"]: r["quality"]
        for name in (grading_eval.DATASET, grading_eval.HOLDOUT)
        for r in load_rows(name)
        if "quality" in r
    }
    graded = [
        r
        for r in report["rows"]
        if r["kind"] in ("plain", "about_injection") and r["id"] in quality
    ]
    assert len(graded) >= 8
    expected = _rank_correlation([r["score"] for r in graded], [quality[r["id"]] for r in graded])
    assert m["spearman"] == pytest.approx(expected, abs=1e-4)


def _ranks(xs: list[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(xs)
    return [order.index(x) + (order.count(x) + 1) / 2 for x in xs]


def _rank_correlation(xs: list[float], ys: list[float]) -> float:
    """Pearson's r of the ranks (0 when one side is constant), written out by hand."""
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return cov / (vx * vy) ** 0.5 if vx and vy else 0.0


def test_a_reduced_grading_run_includes_injected_answers_in_both_splits():
    for split in ("dev", "test"):
        rows = grading_eval._sample(load_rows(grading_eval.DATASET, split), 16)
        assert len({r["question"] for r in rows}) == 4
        assert any(r["kind"] == "injection" for r in rows), split


@pytest.mark.parametrize(
    ("scores", "quality", "rho"),
    [
        ([8.0, 6.0, 5.5, 1.0], [3, 2, 1, 0], 1.0),  # perfectly ordered
        ([1.0, 5.5, 6.0, 8.0], [3, 2, 1, 0], -1.0),  # reversed
        ([8.0, 5.0, 6.0, 1.0], [3, 2, 1, 0], 0.8),  # one adjacent swap: 1 - 6*2/(4*15)
        ([8.0, 5.0, 5.0, 1.0], [3, 2, 1, 0], 0.9487),  # a tie: average ranks, 4.5/sqrt(22.5)
        ([5.0, 5.0, 5.0, 5.0], [3, 2, 1, 0], 0.0),  # constant scores: no ranking (not NaN)
    ],
)
def test_spearman_of_hand_built_rankings(scores, quality, rho):
    assert grading_eval.spearman(scores, quality) == pytest.approx(rho, abs=1e-4)
    assert _rank_correlation(scores, quality) == pytest.approx(rho, abs=1e-4)


def test_judge_set_labels_are_consistent():
    rows = load_rows(judge_eval.DATASET)
    assert sum(r["label"] == "faithful" for r in rows) >= 60
    assert sum(r["label"] == "unfaithful" for r in rows) >= 60
    for r in rows:
        assert r["answer"] == " ".join(s["text"] for s in r["sentences"])
        assert (r["label"] == "faithful") == all(s["supported"] for s in r["sentences"])


def test_judge_eval_resumes_from_its_cache(coach_home):
    gen = FakeGenerator([{"yes": 0.8, "no": 0.2}] * 100)
    judge = Judge(load_config(), generator=gen, embedder=HashEmbedder())
    first = judge_eval.run(load_config(), split="dev", limit=6, judge=judge, with_ragas=False)
    calls = len(gen.calls)
    again = judge_eval.run(load_config(), split="dev", limit=6, judge=judge, with_ragas=False)
    report = json.loads(open(first["report"]).read())
    sentences = sum(len(r["llm_sentences"]) for r in report["rows"])
    assert calls == sentences and len(gen.calls) == calls  # the second run read the cache
    assert first["metrics"]["judges"] == again["metrics"]["judges"]
    assert set(first["metrics"]["judges"]) == {"coach", "support", "llm"}


def test_judge_metrics_auc_and_pairs_by_hand():
    rows = [
        {
            "id": i,
            "label": label,
            "source_question": "Q1",
            "sentences": [{"text": t, "supported": ok}],
        }
        for i, label, t, ok in (("f", "faithful", "a.", True), ("u", "unfaithful", "b.", False))
    ]
    scored = {"f": {"x": (0.9, [False])}, "u": {"x": (0.2, [True])}}
    m = judge_eval.judge_metrics(rows, scored, "x", JudgeSettings().sentence_threshold)
    assert m["auc"] == 1.0 and m["accuracy"] == 1.0
    assert m["pairs_ordered"] == {"pairs": 1, "share": 1.0}
    assert m["sentence_precision"] == 1.0 and m["sentence_recall"] == 1.0


def test_judge_without_logits_falls_back_to_the_support_score_and_says_so():
    class NoLogits(FakeGenerator):
        def choice_probabilities(self, messages, choices, fresh=False):
            raise NotImplementedError

    judge = Judge(load_config(), generator=NoLogits(), embedder=HashEmbedder())
    verdict = judge.judge("Temperature divides the logits before the softmax [Q21].", ["Q21"])
    assert 0.0 <= verdict.faithfulness <= 1.0
    assert "support score)" in verdict.judge and "fake" not in verdict.judge


def test_judge_rejects_bad_input_clearly():
    import pytest

    from coach.errors import BadInput

    judge = Judge(load_config(), generator=FakeGenerator(), embedder=HashEmbedder())
    with pytest.raises(BadInput):
        judge.judge("", ["Q21"])
    with pytest.raises(BadInput):
        judge.judge("An answer.", [])
    with pytest.raises(BadInput):
        judge.judge("An answer.", ["Q99"])
