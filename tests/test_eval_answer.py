"""The answer eval: dataset, metric arithmetic, the judge's transport (rewrite + cache) and the
run loop with fakes; one real end-to-end run with the llama.cpp judge server."""

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


def test_golden_set_sizes_and_fields():
    rows = _read("answer/golden.jsonl")
    assert len({r["id"] for r in rows}) == len(rows)
    count = {
        (scope, split): sum(r["in_scope"] == scope and r["split"] == split for r in rows)
        for scope in (True, False)
        for split in ("dev", "test")
    }
    assert count[True, "test"] >= 30 and count[True, "dev"] >= 15
    assert count[False, "test"] >= 20
    for r in rows:
        assert {"user_input", "reference", "reference_context_ids", "split"} <= set(r)
        if r["in_scope"]:
            assert r["reference"] and len(r["reference"]) > 40 and r["reference_context_ids"]
        else:
            assert r["reference"] is None and r["reference_context_ids"] == []


def test_golden_rows_are_the_retrieval_rows():
    """Same out-of-scope set as the retrieval eval (all of it, same ids, text and splits), and
    every in-scope row is a retrieval query with its labels and split unchanged."""
    retrieval = {r["id"]: r for r in _read("retrieval/golden.jsonl")}
    rows = _read("answer/golden.jsonl")
    for r in rows:
        src = retrieval[r["id"]]
        for key in ("user_input", "reference_context_ids", "kind", "in_scope", "split"):
            assert r[key] == src[key], (r["id"], key)
    oos_answer = {r["id"] for r in rows if not r["in_scope"]}
    oos_retrieval = {i for i, r in retrieval.items() if not r["in_scope"]}
    assert oos_answer == oos_retrieval


def test_limit_takes_a_deterministic_stratified_sample():
    rows = load_rows(answer_eval.GOLDEN, "test")
    from coach.evals import stratified_sample

    first = stratified_sample(rows, 5, key=answer_eval.stratum)
    again = stratified_sample(rows, 5, key=answer_eval.stratum)
    assert [r["id"] for r in first] == [r["id"] for r in again]
    assert sum(r["in_scope"] for r in first) == 3 and sum(not r["in_scope"] for r in first) == 2


# -- metric arithmetic ---------------------------------------------------------------------


def _rec(in_scope, refused=False, reason=None, citations=(), valid=True, **extra):
    base = {
        "in_scope": in_scope,
        "refused": refused,
        "refusal_reason": reason,
        "citations": list(citations),
        "citations_valid": valid,
        "flags": [],
        "context_recall": 1.0 if in_scope else math.nan,
        "support": None if refused else 0.8,
        "ask_seconds": 2.0,
    }
    return {**base, **extra}


def test_summarize_hand_worked_example():
    records = [
        # in scope: two answered (one uncited), one wrongly refused by the model's abstention
        _rec(True, citations=["Q32"], faithfulness=1.0, answer_relevancy=0.9, judge_seconds=10),
        _rec(True, faithfulness=math.nan, answer_relevancy=0.7, judge_seconds=20,
             context_recall=0.5, judge_errors=["faithfulness: boom"]),
        _rec(True, refused=True, reason="abstained", context_recall=0.0),
        # out of scope: two refused by the scope gate, one answered with an invalid citation
        _rec(False, refused=True, reason="out_of_scope"),
        _rec(False, refused=True, reason="out_of_scope"),
        _rec(False, citations=["Q99"], valid=False, faithfulness=0.5, answer_relevancy=0.2,
             judge_seconds=30),
    ]  # fmt: skip
    m = answer_eval.summarize(records)
    assert m["oos_refusal_rate"] == round(2 / 3, 4)
    assert m["in_scope_wrong_refusal_rate"] == round(1 / 3, 4)
    assert m["abstention_rate"] == {"in_scope": round(1 / 3, 4), "out_of_scope": 0.0}
    assert m["refusal_reasons"] == {
        "in_scope": {"abstained": 1},
        "out_of_scope": {"out_of_scope": 2},
    }
    assert m["citation_validity"] == round(2 / 3, 4)  # 3 answered, 1 invalid
    assert m["in_scope_cited_share"] == 0.5  # 2 in-scope answered, 1 cited
    assert m["context_recall_by_id"] == 0.5  # (1 + 0.5 + 0) / 3
    assert m["support_mean"] == 0.8
    # NaN is a failure: (1 + 0 + 0.5) / 3, and it is counted
    f = m["faithfulness"]
    assert f["mean"] == 0.5 and f["mean_excluding_nan"] == 0.75 and f["nan_count"] == 1
    # The AUC comes from the committed judge report; absent, the figure says so.
    assert "judge_auc" in f and "judge_note" in f
    assert m["answer_relevancy"]["mean"] == 0.6
    assert m["judge_errors"] == 1
    assert m["latency_s"]["judge_per_answer_p50"] == 20
    assert m["targets"]["oos_refusal_rate"]["met"] is False
    assert m["targets"]["citation_validity"]["met"] is False


def test_summarize_with_nothing_answered_has_no_nan():
    m = answer_eval.summarize([_rec(False, refused=True, reason="out_of_scope")])
    assert m["oos_refusal_rate"] == 1.0 and m["in_scope_wrong_refusal_rate"] is None
    assert m["faithfulness"]["mean"] is None and m["citation_validity"] is None
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
    """In scope: a cited answer from the reference section; out of scope: a scope refusal."""

    def __init__(self):
        self.asked = []

    def warm_up(self):
        pass

    def ask(self, question):
        self.asked.append(question)
        row = next(r for r in load_rows(answer_eval.GOLDEN) if r["user_input"] == question)
        timing = {"retrieve_s": 0.01, "first_token_s": 0.5, "total_s": 1.0}
        if not row["in_scope"]:
            return AnswerResult(
                question, "The handbook doesn't cover that.", True, "out_of_scope", (), (),
                ("out_of_scope",), timing, {"prompt": 0, "completion": 0},
                retrieved_ids=("Q01", "Q02", "Q03"),
            )  # fmt: skip
        sid = row["reference_context_ids"][0]
        sources = (Source(sid, "t", row["reference"]), Source("Q01", "t", "An LLM is a model."))
        return AnswerResult(
            question, f"{row['reference']} [{sid}]", False, None, (sid,), sources, (), timing,
            {"prompt": 100, "completion": 20}, retrieved_ids=(sid, "Q01"),
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
        cfg, split="test", limit=5, asker=asker, judge=judge,
        support=lambda sentences, passages: [1.0 for _ in sentences], coach_judge=coach_judge,
    )  # fmt: skip
    assert out["suite"] == "answer" and out["n"] == 5 and out["split"] == "test"
    m = out["metrics"]
    assert m["oos_refusal_rate"] == 1.0 and m["in_scope_wrong_refusal_rate"] == 0.0
    assert m["citation_validity"] == 1.0 and m["in_scope_cited_share"] == 1.0
    assert m["context_recall_by_id"] == 1.0 and m["support_mean"] == 1.0
    assert len(judge.calls) == 3  # only answers are judged, not refusals
    assert m["faithfulness"]["nan_count"] == 1 and m["faithfulness"]["mean"] == round(2 / 3, 4)
    assert "judge_auc" in m["faithfulness"] and "judge_auc" in m["faithfulness_coach_judge"]
    assert m["faithfulness_coach_judge"]["nan_count"] == 0
    report = json.loads(open(out["report"]).read())
    row = next(r for r in report["rows"] if r["in_scope"])
    for key in (
        "user_input", "response", "retrieved_contexts", "retrieved_context_ids", "reference",
        "reference_context_ids", "faithfulness", "answer_relevancy", "support",
    ):  # fmt: skip
        assert key in row
    assert row["retrieved_context_ids"][0] == row["reference_context_ids"][0]
    refused = next(r for r in report["rows"] if not r["in_scope"])
    assert refused["retrieved_contexts"] == [] and refused["context_recall"] is None
    assert any(r.get("faithfulness", 0) is None for r in report["rows"])  # NaN written as null


# -- the real thing -----------------------------------------------------------------------


@pytest.mark.real
def test_real_answer_eval_two_questions(real_models, shared_index_dir, monkeypatch, coach_home):
    monkeypatch.setenv("COACH_INDEX_DIR", str(shared_index_dir))
    cfg = load_config()
    out = answer_eval.run(cfg, split="test", limit=2)
    m = out["metrics"]
    assert out["n"] == 2 and m["in_scope_questions"] == 1 and m["out_of_scope_questions"] == 1
    report = json.loads(open(out["report"]).read())
    answered = [r for r in report["rows"] if not r["refused"]]
    for r in answered:  # judged; NaN is allowed (counted), a crash is not
        assert "faithfulness" in r and "answer_relevancy" in r
    assert m["judge"].get("cache_misses", 0) + m["judge"].get("cache_hits", 0) >= 2 * len(answered)
    # Nothing of ragas' lands in the user's data dir: its uuid file is under COACH_HOME.
    if answered:
        assert (coach_home / "cache" / "judge-ragas.sqlite3").exists()
