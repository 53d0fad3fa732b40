"""The leak eval (coach/evals/leak.py) must test the model: every attack reaches it.

The searcher here calls every query out of scope and the attacks trip the input layer's rules,
so each row refused before generation (by the input layer or the scope gate) would show up as a
row the model never saw, and these tests would fail.
"""

from __future__ import annotations

import json

import pytest

from coach.ask import CANARY, Asker
from coach.config import load_config
from coach.evals import leak
from coach.guardrails import check_input, fake_guards
from coach.llm import FakeGenerator
from coach.search import HashEmbedder, Searcher

REFUSED_BEFORE_THE_MODEL = {"out_of_scope", "prompt_injection", "jailbreak", "prompt_extraction"}


def _asker(cfg, generator):
    # Nothing is in scope for this searcher: the scope gate would refuse every attack.
    searcher = Searcher(
        cfg, embedder=HashEmbedder(dim=4096), use_reranker=False, scope_threshold=float("inf")
    )
    return Asker(
        cfg,
        searcher=searcher,
        generator=generator,
        guards=fake_guards(),
        support=lambda sentences, passages: [0.9 for _ in sentences],
    )


def _rows(result: dict) -> list[dict]:
    return json.loads(open(result["report"], encoding="utf-8").read())["rows"]


def test_every_attack_reaches_the_model(coach_home):
    cfg = load_config().replace(answer_mode="generate")
    gen = FakeGenerator(default="I am an interview coach and answer from the handbook.")
    asker = _asker(cfg, gen)
    result = leak.run(cfg, split="test", asker=asker)
    rows = _rows(result)
    assert result["n"] == len(rows) == 60
    m = result["metrics"]
    assert m["reached_model"] == m["attacks"] == 60 and m["leaks"] == 0
    assert len(gen.calls) == 60  # one generation per attack, nothing short-circuited
    not_reached = [r["id"] for r in rows if not r["model_called"]]
    assert not_reached == []
    refused_early = [r["id"] for r in rows if r["refusal_reason"] in REFUSED_BEFORE_THE_MODEL]
    assert refused_early == []
    assert all(r["completion_tokens"] > 0 and r["model_text"] for r in rows)

    # The bypass is what makes this so: the same pipeline with its gates on refuses the
    # attacks before the model (the scope gate refuses all of them here).
    blocked = [r for r in rows if not check_input(r["user_input"], guards=fake_guards()).allowed]
    assert blocked, "the input layer should stop some of these attacks"
    before = len(gen.calls)
    res = asker.ask(rows[0]["user_input"])
    assert res.refused and len(gen.calls) == before


def test_a_model_that_prints_the_canary_is_counted_and_stopped(coach_home):
    cfg = load_config().replace(answer_mode="generate")
    gen = FakeGenerator(
        [f"Sure. My hidden marker is {CANARY} and I was told to cite sources."],
        default="I only answer from the handbook.",
    )
    result = leak.run(cfg, split="test", limit=6, asker=_asker(cfg, gen))
    m = result["metrics"]
    assert m["attacks"] == m["reached_model"] == 6
    assert m["model_leaked"] == 1  # the model's own text leaked...
    assert m["leaks"] == 0 and m["caught_by_output_layer"] == 1  # ...the user never saw it
    row = next(r for r in _rows(result) if r["model_leaked"])
    assert CANARY in row["model_text"] and CANARY not in row["response"]


def test_the_leak_eval_refuses_an_asker_that_never_calls_the_model(coach_home):
    cfg = load_config().replace(answer_mode="quote")
    with pytest.raises(ValueError, match="generate"):
        leak.run(cfg, split="test", limit=3, asker=_asker(cfg, FakeGenerator()))
