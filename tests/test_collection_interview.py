"""Mock interviews on the user's own collections: refs like "pytut:s67" through the grader,
the session, the progress store and its per-collection statistics, over a real SQLite store and
a grader with a scripted LLM. The rubric source is a fake here (its own tests cover it)."""

from __future__ import annotations

import pytest

from coach.config import load_config
from coach.errors import BadInput
from coach.guardrails import fake_guards
from coach.interview import Grader, InterviewSession, ProgressStore, RubricPoint
from coach.interview.collection_questions import as_question
from coach.interview.refs import normalize_ref
from coach.interview.rubrics import Rubric
from coach.llm import FakeGenerator
from coach.search import HashEmbedder

SECTION = (
    "Important warning: The default value is evaluated only once. This makes a difference "
    "when the default is a mutable object such as a list."
)


def _rubric(ref: str) -> Rubric:
    def point(i, text, source, keywords, weight):
        return RubricPoint(f"{ref}.{i}", text, weight, source, keywords, f"Why does {text}?")

    return Rubric(
        ref,
        (
            point(1, "The default is evaluated once", "evaluated only once", ("once",), 0.4),
            point(2, "A mutable default is shared", "mutable object", ("mutable",), 0.3),
            point(3, "Lists are mutable defaults", "such as a list", ("list",), 0.3),
        ),
    )


def fake_question(cfg, ref):
    if ref not in ("pytut:s67", "pytut:s68"):
        raise BadInput(f"{ref}: no rubric")
    question = as_question(ref, "Default Argument Values", "When are defaults evaluated?", SECTION)
    return question, _rubric(ref), "proposed" if ref == "pytut:s67" else "reviewed"


def _yes(messages) -> dict:
    return {"yes": 1.0, "no": 0.0}


@pytest.fixture
def store(tmp_path):
    with ProgressStore(tmp_path / "progress.db") as s:
        yield s


@pytest.fixture
def grader():
    return Grader(
        load_config(),
        generator=FakeGenerator([_yes] * 200),
        embedder=HashEmbedder(),
        guards=fake_guards(),
        collection_question=fake_question,
    )


def test_refs_keep_collection_sections_and_normalize_handbook_ids():
    assert normalize_ref("pytut:s67") == "pytut:s67" and normalize_ref("21") == "Q21"
    with pytest.raises(BadInput):
        normalize_ref("../etc:s1")


def test_a_proposed_rubric_grade_says_so_and_a_reviewed_one_does_not(grader):
    proposed = grader.grade("pytut:s67", "It is evaluated only once, so a mutable list is shared.")
    assert proposed.rubric == "proposed" and proposed.to_json()["rubric"] == "proposed"
    assert proposed.feedback.startswith("Graded on a proposed rubric")
    assert "[pytut:s67] Default Argument Values in your material" in proposed.feedback
    assert proposed.model_answer.startswith("Important warning") and "[pytut:s67]" in (
        proposed.model_answer
    )
    reviewed = grader.grade("pytut:s68", "Evaluated once; a mutable list default is shared.")
    assert reviewed.rubric == "reviewed" and "proposed" not in reviewed.feedback
    assert "rubric" not in grader.grade("Q21", "Temperature scales the logits.").to_json()


def test_a_session_on_collection_sections_records_progress_per_collection(store, grader):
    session = InterviewSession.start(store, grader, questions=["pytut:s67", "pytut:s68"])
    assert session.plan == ["pytut:s67", "pytut:s68"]
    assert session.current().question == "When are defaults evaluated?"
    step = session.answer("The default is evaluated only once; a mutable list is shared.")
    assert step.grade.question == "pytut:s67" and step.grade.score > 0
    if session.pending_follow_up:
        session.next()
    session.skip()
    assert session.done
    summary = session.summary()
    assert summary["answered"] == 1 and summary["skipped"] == 1
    assert set(summary["by_part"]) == {"pytut"}
    stats = store.stats()
    assert stats["questions"]["pytut:s67"]["part"] == "pytut" and "pytut" in stats["parts"]


def test_a_section_without_a_rubric_fails_before_the_session_starts(store, grader):
    with pytest.raises(BadInput, match="no rubric"):
        InterviewSession.start(store, grader, questions=["pytut:s99"])
    assert store.unfinished_sessions() == []
