"""The answer eval: dataset, metric arithmetic, the judge's transport (rewrite + cache) and the
run loop with fakes. The real end-to-end run (the Ask pipeline, the coach judge and ragas through
the llama.cpp judge server) is the CI gate, tests/test_answer_gate.py."""

from __future__ import annotations

import asyncio
import doctest
import json
import math

import pytest

from coach.ask import AnswerResult, Judge, Source
from coach.config import load_config
from coach.evals import EVALS_DIR, load_rows, ragas_judge
from coach.evals import answer as answer_eval
from coach.evals.ragas_judge import JudgeCache, JudgeScores, caching_transport, request_key
from coach.llm import FakeGenerator
from coach.search import HashEmbedder


def test_doctests():
    for module in (answer_eval, ragas_judge):
        assert doctest.testmod(module).failed == 0


# -- the dataset ---------------------------------------------------------------------------


def _read(relpath):
    return [json.loads(line) for line in (EVALS_DIR / relpath).read_text().splitlines() if line]


def test_correctness_set_sizes_and_fields():
    rows = _read(answer_eval.CORRECTNESS)
    assert len({r["id"] for r in rows}) == len(rows) == len({r["user_input"] for r in rows})
    covered = [r for r in rows if r["in_scope"]]
    assert len(covered) >= 120 and len(rows) - len(covered) >= 40
    mains = {r["reference_context_ids"][0] for r in covered}
    assert {f"Q{n:02d}" for n in range(1, 51)} <= mains  # every section is asked about
    for r in rows:
        assert r["split"] in ("dev", "test")
        if r["in_scope"]:
            assert r["key_facts"] and r["must_not"] and r["reference_context_ids"]
        else:
            assert r["key_facts"] == r["must_not"] == r["reference_context_ids"] == []


def test_limit_takes_a_deterministic_stratified_sample():
    rows = load_rows(answer_eval.CORRECTNESS, "test")
    from coach.evals import stratified_sample

    first = stratified_sample(rows, 5, key=answer_eval.stratum)
    again = stratified_sample(rows, 5, key=answer_eval.stratum)
    assert [r["id"] for r in first] == [r["id"] for r in again]
    assert sum(r["in_scope"] for r in first) == 3 and sum(not r["in_scope"] for r in first) == 2


# -- the per-answer checks -----------------------------------------------------------------


def test_must_not_is_caught_when_stated_and_not_when_the_handbook_is_quoted():
    from coach.evals.answer_checks import must_not_stated

    wrong = "Higher temperature makes the output more deterministic."
    assert must_not_stated([wrong], "Turn it up: higher temperature makes the output more "
                                    "deterministic. [Q21]") == [wrong]  # fmt: skip
    # the handbook's own row names both words in other cells: no claim is made
    quoted = "T → 0: Effect — Greedy decoding (argmax); Use For — Deterministic outputs. [Q21]"
    assert must_not_stated([wrong], quoted) == []
    swapped = "BERT is trained autoregressively while GPT uses masked language modelling."
    assert must_not_stated([swapped], "GPT is trained autoregressively while BERT uses masked "
                                      "language modelling.") == []  # fmt: skip


def test_key_facts_by_quoted_statement_or_close_paraphrase():
    from coach.evals.answer_checks import key_facts_present
    from coach.handbook import statements_by_section

    q21 = statements_by_section()["Q21"]
    facts = ["Temperature divides the logits before the softmax.", "No.", "Pair it with top-p."]
    embed = HashEmbedder().embed
    got = key_facts_present(facts, "Some text. [Q21]", [q21[0].id], q21, embed)
    assert got[1] is False  # a verdict fact needs the answer to open with it
    assert key_facts_present(["No."], "No, the opposite. [Q21]", [], q21, embed) == [True]


def test_ungrounded_sentences_ignore_the_coach_notes():
    from coach.evals.answer_checks import ungrounded_sentences
    from coach.handbook import statements_by_section

    sts = statements_by_section()["Q21"]
    text = f"{sts[0].text} [Q21] *(Correction (the handbook is wrong here): whatever.)*"
    assert ungrounded_sentences(text, sts) == []
    assert ungrounded_sentences(text + " Temperature is measured in kelvin.", sts) != []


# -- metric arithmetic ---------------------------------------------------------------------


def _rec(in_scope, refused=False, reason=None, citations=(), refs=("Q32",), **extra):
    base = {
        "in_scope": in_scope,
        "refused": refused,
        "refusal_reason": reason,
        "citations": list(citations),
        "reference_context_ids": list(refs) if in_scope else [],
        "context_recall": 1.0 if in_scope else math.nan,
        "first_token_s": None if refused else 0.1,
        "ask_seconds": 1.0,
        "must_not_made": [],
        "ungrounded": [],
        "key_facts_present": [],
        "fact_is_verdict": [],
        "sentences": 3,
        "words": 40,
        "checks": {},
    }
    return {**base, **extra}


def test_summarize_hand_worked_example():
    records = [
        # in scope: two answered, one wrongly refused
        _rec(True, citations=["Q32"], key_facts_present=[True, True, False],
             fact_is_verdict=[True, False, False], coach_faithfulness=1.0),
        _rec(True, citations=["Q32", "Q15"], key_facts_present=[True],
             fact_is_verdict=[False], must_not_made=["x"], ungrounded=["y"],
             faithfulness=math.nan, answer_relevancy=0.7, coach_faithfulness=0.5),
        _rec(True, refused=True, reason="abstained", context_recall=0.0),
        # out of scope: one refused by the scope gate, one answered
        _rec(False, refused=True, reason="out_of_scope"),
        _rec(False, citations=["Q01"]),
    ]  # fmt: skip
    m = answer_eval.summarize(records)
    assert m["oos_refusal_rate"] == 0.5 and m["in_scope_wrong_refusal_rate"] == round(1 / 3, 4)
    assert m["answers_contradicting"] == 1 and m["answers_with_ungrounded_text"] == 1
    assert m["key_facts_present"] == 0.75  # 3 of 4 facts
    assert m["key_facts_present_without_verdict_words"] == round(2 / 3, 4)
    assert m["citations_correct"] == round(2 / 3, 4)  # Q32, Q32 in refs; Q15 not
    assert m["faithfulness_coach_judge"]["mean"] == 0.75
    f = m["faithfulness_ragas"]
    assert f["mean"] == 0.0 and f["nan_count"] == 1 and "judge_auc" in f
    assert m["targets"]["answers_contradicting"]["met"] is False


def test_summarize_with_nothing_answered_has_no_nan():
    m = answer_eval.summarize([_rec(False, refused=True, reason="out_of_scope")])
    assert m["oos_refusal_rate"] == 1.0 and m["in_scope_wrong_refusal_rate"] is None
    assert m["key_facts_present"] is None and m["faithfulness_ragas"]["mean"] is None
    json.dumps(m, allow_nan=False)


# -- the judge transport: response_format rewrite and cache ------------------------------


def test_rewrite_leaves_a_schema_already_given_alone():
    body = {"response_format": {"type": "json_object", "schema": {"type": "array"}}}
    assert ragas_judge.rewrite_response_format(body, {"type": "object"}) == body


def _chat_reply(content: str) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class _Server:
    """A scripted OpenAI server behind httpx2.MockTransport; records what it received."""

    def __init__(self, replies, status=200):
        self.replies = list(replies)
        self.status = status
        self.bodies = []

    def __call__(self, request):
        import httpx2

        self.bodies.append(json.loads(request.content))
        if self.status != 200:
            return httpx2.Response(self.status, json={"error": {"message": "nope"}})
        return httpx2.Response(200, json=_chat_reply(self.replies.pop(0)))


def _post(transport, body):
    import httpx2

    async def go():
        async with httpx2.AsyncClient(transport=transport) as client:
            r = await client.post("http://127.0.0.1:9/v1/chat/completions", json=body)
            return r.status_code, r.json()

    return asyncio.run(go())


def test_transport_rewrites_caches_and_starts_the_server_only_on_a_miss(tmp_path):
    import httpx2

    server = _Server(['{"a": 1}'])
    starts = []
    cache = JudgeCache(tmp_path / "judge.sqlite3")
    transport = caching_transport(
        cache, inner=httpx2.MockTransport(server), before_miss=lambda: starts.append(1)
    )
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    body["response_format"] = {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}
    status, reply = _post(transport, body)
    assert status == 200 and reply["choices"][0]["message"]["content"] == '{"a": 1}'
    assert server.bodies[0]["response_format"] == {
        "type": "json_object",
        "schema": {"type": "object"},
    }
    # Same request again: from the cache, nothing sent, no server start.
    status, again = _post(transport, body)
    assert again == reply and len(server.bodies) == 1 and starts == [1]
    assert (transport.hits, transport.misses) == (1, 1)
    # The cache outlives the process: a fresh transport on the same file answers it too.
    cache.close()
    fresh = caching_transport(
        JudgeCache(tmp_path / "judge.sqlite3"), inner=httpx2.MockTransport(server)
    )
    assert _post(fresh, body)[1] == reply and len(server.bodies) == 1
    assert request_key(server.bodies[0]) in {
        row[0] for row in fresh.cache._db.execute("SELECT key FROM calls")
    }


def test_transport_does_not_cache_failures(tmp_path):
    import httpx2

    server = _Server([], status=500)
    transport = caching_transport(
        JudgeCache(tmp_path / "c.sqlite3"), inner=httpx2.MockTransport(server)
    )
    body = {"model": "m", "messages": []}
    assert _post(transport, body)[0] == 500
    assert _post(transport, body)[0] == 500
    assert len(server.bodies) == 2


class _FakeEmbeddings:
    """Word-length vectors: deterministic and checkable by hand (a ragas embedding subclass)."""

    @staticmethod
    def make():
        from ragas.embeddings.base import BaseRagasEmbedding

        class Emb(BaseRagasEmbedding):
            def embed_text(self, text, **kw):
                return [float(len(w)) for w in (text.split() + [""] * 4)[:4]]

            async def aembed_text(self, text, **kw):
                return self.embed_text(text)

        return Emb()


def test_real_ragas_metrics_through_the_transport(tmp_path):
    """ragas 0.4.3 + instructor Mode.JSON, end to end against a scripted server: each request
    carries its pydantic schema in llama.cpp's json_object form, and the scores come out."""
    import httpx2
    from openai import AsyncOpenAI

    # ragas may log, and logging writes its uuid file: keep it in the temporary dir.
    ragas_judge._isolate_ragas_userid(tmp_path / "ragas-data")

    statements = json.dumps({"statements": ["LoRA trains low-rank matrices."]})
    verdicts = json.dumps(
        {
            "statements": [
                {"statement": "LoRA trains low-rank matrices.", "reason": "r", "verdict": 1}
            ]
        }
    )
    question = json.dumps({"question": "What does LoRA train?", "noncommittal": 0})
    server = _Server([statements, verdicts, question])
    transport = caching_transport(
        JudgeCache(tmp_path / "c.sqlite3"), inner=httpx2.MockTransport(server)
    )
    client = AsyncOpenAI(
        base_url="http://127.0.0.1:9/v1",
        api_key="local",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=transport),
    )
    faith, rel = ragas_judge.build_metrics(client, "qwen", _FakeEmbeddings.make())
    assert rel.strictness == 1
    # the prompts are attributes of the collections metrics
    assert "statements" in faith.statement_generator_prompt.instruction.lower()
    assert "noncommittal" in rel.prompt.instruction

    async def go():
        f = await faith.ascore(
            user_input="What does LoRA train?",
            response="LoRA trains low-rank matrices [Q32].",
            retrieved_contexts=["LoRA freezes W and trains low-rank matrices A and B."],
        )
        r = await rel.ascore(user_input="What does LoRA train?", response="LoRA trains A and B.")
        return f.value, r.value

    f, r = asyncio.run(go())
    assert f == 1.0 and r == pytest.approx(1.0)  # same word lengths: cosine 1
    schemas = [b["response_format"]["schema"]["title"] for b in server.bodies]
    assert schemas == ["StatementGeneratorOutput", "NLIStatementOutput", "AnswerRelevanceOutput"]
    assert all(b["response_format"]["type"] == "json_object" for b in server.bodies)
    assert all(b["model"] == "qwen" for b in server.bodies)


# -- the run loop, with fakes -------------------------------------------------------------


class _FakeAsker:
    """In scope: the reference section's first statement, quoted; out of scope: a refusal."""

    def __init__(self):
        from coach.handbook import statements_by_section

        self.asked = []
        self.by_section = statements_by_section()

    def warm_up(self):
        pass

    def ask(self, question):
        self.asked.append(question)
        row = next(r for r in load_rows(answer_eval.CORRECTNESS) if r["user_input"] == question)
        timing = {"retrieve_s": 0.01, "first_token_s": 0.5, "total_s": 1.0}
        if not row["in_scope"]:
            return AnswerResult(
                question, "The handbook doesn't cover that.", True, "out_of_scope", (), (),
                ("out_of_scope",), timing, {"prompt": 0, "completion": 0},
                retrieved_ids=("Q01", "Q02", "Q03"),
            )  # fmt: skip
        sid = row["reference_context_ids"][0]
        st = self.by_section[sid][0]
        sources = (Source(sid, "t", st.text),)
        return AnswerResult(
            question, f"{st.text} [{sid}]", False, None, (sid,), sources, (), timing,
            {"prompt": 0, "completion": 0}, retrieved_ids=(sid, "Q01"),
            checks={"statements": [st.id]},
        )  # fmt: skip


class _FakeJudge:
    def __init__(self):
        self.calls = []

    def score(self, user_input, response, contexts):
        self.calls.append((user_input, response, contexts))
        nan = len(self.calls) == 2  # the second answer's faithfulness fails to parse
        return JudgeScores(math.nan if nan else 1.0, 0.9, 3.0, ("faithfulness: x",) if nan else ())

    def stats(self):
        return {"judge": "fake"}


def test_run_with_fakes_writes_ragas_rows(coach_home):
    cfg = load_config()
    asker, judge = _FakeAsker(), _FakeJudge()
    coach_judge = Judge(cfg, generator=FakeGenerator([{"yes": 1.0}] * 100), embedder=HashEmbedder())
    out = answer_eval.run(
        cfg, split="test", limit=5, asker=asker, judge=judge, coach_judge=coach_judge,
        embed=HashEmbedder().embed, ragas_limit=None,
    )  # fmt: skip
    assert out["suite"] == "answer" and out["n"] == 5 and out["split"] == "test"
    m = out["metrics"]
    assert m["oos_refusal_rate"] == 1.0 and m["in_scope_wrong_refusal_rate"] == 0.0
    assert m["answers_contradicting"] == 0 and m["answers_with_ungrounded_text"] == 0
    assert m["citations_correct"] == 1.0 and m["sentences_per_answer"] >= 1
    assert len(judge.calls) == 3  # only answers are judged, not refusals
    assert m["faithfulness_ragas"]["nan_count"] == 1
    assert m["faithfulness_ragas"]["mean"] == round(2 / 3, 4)
    assert "judge_auc" in m["faithfulness_ragas"] and "judge_auc" in m["faithfulness_coach_judge"]
    report = json.loads(open(out["report"]).read())
    row = next(r for r in report["rows"] if r["in_scope"])
    for key in (
        "user_input", "response", "retrieved_contexts", "retrieved_context_ids",
        "reference_context_ids", "faithfulness", "answer_relevancy", "key_facts_present",
        "must_not_made", "ungrounded",
    ):  # fmt: skip
        assert key in row
    refused = next(r for r in report["rows"] if not r["in_scope"])
    assert refused["retrieved_contexts"] == [] and refused["context_recall"] is None
    assert any(r.get("faithfulness", 0) is None for r in report["rows"])  # NaN written as null
