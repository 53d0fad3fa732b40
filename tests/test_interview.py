"""Interview sessions over a real SQLite progress store and a grader with a scripted LLM."""

from __future__ import annotations

import datetime as dt

import pytest

from coach.config import load_config
from coach.errors import BadInput
from coach.guardrails import fake_guards
from coach.handbook import load_handbook
from coach.interview import Grader, InterviewSession, ProgressStore, load_rubrics, plan_questions
from coach.llm import FakeGenerator
from coach.search import HashEmbedder


def _all_covered(messages) -> dict:
    contradiction = "contradicts the handbook" in messages[-1]["content"]
    return {"yes": 0.0 if contradiction else 1.0, "no": 1.0 if contradiction else 0.0}


@pytest.fixture
def store(tmp_path):
    with ProgressStore(tmp_path / "progress.db") as s:
        yield s


@pytest.fixture
def grader():
    gen = FakeGenerator([_all_covered] * 500)
    return Grader(load_config(), generator=gen, embedder=HashEmbedder(), guards=fake_guards())


def _strong(qid: str) -> str:
    return " ".join(p.point for p in load_rubrics()[qid].points)


def test_a_session_asks_grades_follows_up_skips_reveals_and_summarises(store, grader):
    session = InterviewSession.start(store, grader, part="P4", count=3, mode="new_first")
    assert len(session.plan) == 3 and all(
        q in {f"Q{i}" for i in range(19, 25)} for q in session.plan
    )
    first = session.current().id
    step = session.answer(_strong(first))
    assert step.kind == "graded" and step.grade.score > 5
    if session.pending_follow_up:  # one probe per question, graded on the same rubric
        follow = session.answer("More detail on the point I missed.")
        assert follow.kind == "follow_up"
    second = session.current().id
    assert second != first
    assert session.skip().kind == "skipped"
    third = session.current().id
    revealed = session.reveal()
    assert revealed.kind == "revealed" and revealed.model_answer.endswith("]")
    assert session.done and store.unfinished_sessions() == []
    summary = session.summary()
    assert summary["answered"] == 1 and summary["skipped"] == 1 and summary["revealed"] == 1
    assert set(summary["by_part"]) == {"P4"}
    # What to read: every question scored under 7, weakest first, as "[Qnn] title"; the
    # skipped and the revealed one scored 0, the graded one only if it scored under 7.
    titles = {q.id: q.title for q in load_handbook().questions}
    read = summary["read"]
    assert read[:2] == [f"[{q}] {titles[q]}" for q in sorted((second, third))]
    assert (f"[{first}] {titles[first]}" in read) == (step.grade.score < 7)
    with pytest.raises(BadInput, match="finished"):
        session.answer("too late")


def test_an_interrupted_session_resumes_where_it_stopped(tmp_path, grader):
    path = tmp_path / "progress.db"
    with ProgressStore(path) as store:
        session = InterviewSession.start(store, grader, count=2, mode="new_first")
        plan = session.plan
        session.skip()
    with ProgressStore(path) as store:  # a new process, as after a crash or a closed tab
        resumed = InterviewSession.resume(store, grader)
        assert resumed is not None and resumed.plan == plan
        assert resumed.current().id == plan[1]


def test_weak_questions_come_back_first(store, grader):
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    store.record_attempt("Q05", "graded", "weak", {"score": 2.0}, now=now)
    store.record_attempt("Q06", "graded", "good", {"score": 9.5}, now=now)
    later = now + dt.timedelta(days=2)
    assert plan_questions(store, part="P1", count=6, mode="weakest", now=later)[0] == "Q05"
    assert plan_questions(store, part="P1", count=6, mode="due", now=later)[0] == "Q05"


def test_bad_session_choices_are_refused(store):
    with pytest.raises(BadInput):
        plan_questions(store, part="Q3", count=2)
    with pytest.raises(BadInput):
        plan_questions(store, count=0)
    with pytest.raises(BadInput):
        plan_questions(store, mode="random")


def test_a_resumed_session_asks_the_pending_follow_up_not_the_question_again(tmp_path, grader):
    path = tmp_path / "progress.db"
    with ProgressStore(path) as store:
        session = InterviewSession.start(store, grader, count=1, mode="new_first")
        qid = session.current().id
        step = session.answer(" ".join(p.point for p in load_rubrics()[qid].points[:1]))
        assert session.pending_follow_up and step.follow_up
    with ProgressStore(path) as store:  # the tab was closed while the follow-up waited
        resumed = InterviewSession.resume(store, grader)
        assert resumed.pending_follow_up == session.pending_follow_up
        assert resumed.answer("More on that point.").kind == "follow_up"
        kinds = [a["kind"] for a in store.attempts(session_id=resumed.id)]
        assert sorted(kinds) == ["follow_up", "graded"] and resumed.done


def test_a_session_can_practise_named_questions(store, grader):
    session = InterviewSession.start(store, grader, questions=["q21", "17", "Q21"])
    assert session.plan == ["Q21", "Q17"] and session.current().id == "Q21"
    with pytest.raises(BadInput):
        plan_questions(store, questions=["P3"])  # a part intro is not a question
