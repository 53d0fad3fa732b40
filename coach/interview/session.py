"""A mock interview session: plan the questions, ask, grade, follow up, summarise, resume.

The session is a thin state machine over the progress store, so the terminal (`coach
interview`) and the web app drive the same logic and an interrupted session resumes where it
stopped: the plan and the position are written to the store after every step.

Each planned question may get one follow-up (the grader's probe at the weakest point); its
answer is graded against the same rubric and stored as a `follow_up` attempt, which does not
move the spaced-repetition schedule (the main answer already did).
Leaves out: grading (grade.py), persistence (store.py), scheduling (schedule.py).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from coach.errors import BadInput
from coach.handbook import Question, load_handbook, normalize_id
from coach.interview.collection_questions import collection_refs
from coach.interview.grade import Grade, Grader, model_answer
from coach.interview.refs import collection_of, normalize_ref
from coach.interview.schedule import pick_next
from coach.interview.store import ProgressStore

MODES = ("due", "weakest", "new_first")
MAX_COUNT = 50


def plan_questions(
    store: ProgressStore,
    *,
    part: str | None = None,
    count: int = 5,
    mode: str = "due",
    now: dt.datetime | None = None,
    questions: Sequence[str] = (),
    candidates: Sequence[str] = (),
) -> list[str]:
    """The question ids for a new session: the named `questions` ("Q21", "21", "pytut:s67"),
    in that order, or else `candidates` (a collection's sections with rubrics) or a part (or
    all handbook questions), ordered by the scheduler."""
    if questions:
        book = load_handbook()
        refs = [normalize_ref(ref) for ref in questions]
        return list(dict.fromkeys(r if collection_of(r) else book.question(r).id for r in refs))
    if mode not in MODES:
        raise BadInput(f"unknown interview mode {mode!r}; use one of {', '.join(MODES)}")
    if not 1 <= count <= MAX_COUNT:
        raise BadInput(f"the number of questions must be between 1 and {MAX_COUNT}")
    book = load_handbook()
    if part:
        part = normalize_id(part)
        if not part.startswith("P"):
            raise BadInput(f"{part} is a question; choose a part P1..P9")
    if not candidates:
        candidates = [q.id for q in book.questions if part is None or q.part == part]
    now = now or dt.datetime.now(dt.UTC)
    return pick_next(store.review_states(), candidates, now, mode)[:count]


@dataclass
class Step:
    """What happened on one action, for the front end to render."""

    question: str
    kind: str  # graded | skipped | revealed | follow_up
    grade: Grade | None = None
    model_answer: str = ""
    follow_up: str = ""


class InterviewSession:
    def __init__(self, store: ProgressStore, grader: Grader, session_id: str):
        self.store = store
        self.grader = grader
        self.id = session_id
        record = store.get_session(session_id)
        self.plan: list[str] = list(record["plan"])
        self.position: int = int(record["position"])
        self.part = record.get("part")
        self.mode = record.get("mode")
        self.book = load_handbook()
        self.pending_follow_up = self._unanswered_follow_up()

    def _unanswered_follow_up(self) -> tuple[str, str] | None:
        """(parent attempt id, follow-up question) when the current question was graded in this
        session and its follow-up not yet answered: a resumed session picks up there instead
        of asking (and recording) the main question again."""
        if self.done:
            return None
        current = self.plan[self.position]
        mine = [a for a in self.store.attempts(session_id=self.id) if a["question"] == current]
        graded = [a for a in mine if a["kind"] == "graded"]
        if not graded or any(a["kind"] == "follow_up" for a in mine):
            return None
        probe = (graded[-1].get("grade") or {}).get("follow_up")
        return (graded[-1]["id"], probe) if probe else None

    @classmethod
    def start(
        cls,
        store: ProgressStore,
        grader: Grader,
        *,
        part: str | None = None,
        count: int = 5,
        mode: str = "due",
        now: dt.datetime | None = None,
        questions: Sequence[str] = (),
        collection: str | None = None,
    ) -> InterviewSession:
        """A new session; with `collection`, over its sections that have rubrics."""
        candidates = collection_refs(grader.cfg, collection) if collection else ()
        plan = plan_questions(
            store,
            part=part,
            count=count,
            mode=mode,
            now=now,
            questions=questions,
            candidates=candidates,
        )
        for ref in plan:  # an unknown section or one without a rubric fails before it starts
            if collection_of(ref):
                grader.rubric(ref)
        session_id = store.start_session(mode, collection or part, len(plan), plan)
        return cls(store, grader, session_id)

    @classmethod
    def resume(
        cls, store: ProgressStore, grader: Grader, session_id: str | None = None
    ) -> InterviewSession | None:
        """The named session, or the newest unfinished one; None when there is none."""
        if session_id is None:
            open_sessions = store.unfinished_sessions()
            if not open_sessions:
                return None
            session_id = open_sessions[0]["id"]
        return cls(store, grader, session_id)

    # -- state ---------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.position >= len(self.plan)

    def current(self) -> Question | None:
        if self.done:
            return None
        ref = self.plan[self.position]
        return self.grader.rubric(ref)[0] if collection_of(ref) else self.book.question(ref)

    def progress_label(self) -> str:
        shown = min(self.position + 1, len(self.plan))
        return f"Question {shown} of {len(self.plan)}"

    # -- actions -------------------------------------------------------------------------

    def answer(self, text: str) -> Step:
        """Grade the answer to the current question (or to the pending follow-up)."""
        question = self._require_current()
        if self.pending_follow_up:
            parent, probe = self.pending_follow_up
            grade = self.grader.grade(question.id, text)
            self.store.record_attempt(
                question.id, "follow_up", text, grade.to_json(), session_id=self.id, parent=parent
            )
            self.pending_follow_up = None
            self._advance()
            return Step(question.id, "follow_up", grade=grade, follow_up=probe)
        grade = self.grader.grade(question.id, text)
        attempt = self.store.record_attempt(
            question.id, "graded", text, grade.to_json(), session_id=self.id
        )
        if grade.follow_up:
            # One probe per question, a level deeper than the weakest point (a perfect answer
            # is probed too, as an interviewer would); answering it or moving on advances.
            self.pending_follow_up = (attempt, grade.follow_up)
        else:
            self._advance()
        return Step(question.id, "graded", grade=grade, follow_up=grade.follow_up)

    def skip(self) -> Step:
        """ "I don't know": recorded as a skip (it brings the question back soon)."""
        if self.pending_follow_up:
            return self.next()
        question = self._require_current()
        self.store.record_attempt(question.id, "skipped", "", None, session_id=self.id)
        self._advance()
        return Step(question.id, "skipped", model_answer=model_answer(question))

    def reveal(self) -> Step:
        """Show the handbook's answer without a grade; recorded, so the question returns soon."""
        question = self._require_current()
        if not self.pending_follow_up:
            self.store.record_attempt(question.id, "revealed", "", None, session_id=self.id)
        self.pending_follow_up = None
        self._advance()
        return Step(question.id, "revealed", model_answer=model_answer(question))

    def next(self) -> Step:
        """Leave the pending follow-up unanswered and move on."""
        question = self._require_current()
        self.pending_follow_up = None
        self._advance()
        return Step(question.id, "skipped")

    def _require_current(self) -> Question:
        question = self.current()
        if question is None:
            raise BadInput("This interview is finished; start a new one.")
        return question

    def _advance(self) -> None:
        self.position += 1
        self.store.advance_session(self.id, self.position)
        if self.done:
            self.store.finish_session(self.id)

    # -- the end -------------------------------------------------------------------------

    def summary(self) -> dict:
        titles = {r: self.grader.rubric(r)[0].title for r in self.plan if collection_of(r)}
        return session_summary(self.store, self.id, titles)


def session_summary(
    store: ProgressStore, session_id: str, titles: dict[str, str] | None = None
) -> dict:
    """Scores per part (a collection's sections: per collection), strongest and weakest rubric
    points, and what to read. `titles` names collection sections (their ids otherwise)."""
    book = load_handbook()
    part_of = defaultdict(str, {q.id: q.part for q in book.questions})
    title = {q.id: q.title for q in book.questions} | (titles or {})
    for a in store.attempts(session_id=session_id):
        if collection_of(a["question"]):
            part_of[a["question"]] = collection_of(a["question"])
            title.setdefault(a["question"], a["question"])
    attempts = store.attempts(session_id=session_id)
    main = [a for a in attempts if a["kind"] in ("graded", "skipped", "revealed")]
    per_part: dict[str, list[float]] = defaultdict(list)
    point_values: dict[str, list[str]] = defaultdict(list)
    for a in main:
        per_part[part_of[a["question"]]].append(a["score"] or 0.0)
        for p in (a.get("grade") or {}).get("points", []):
            point_values[p["verdict"]].append(f"{a['question']}: {p['point']}")
    scores = {a["question"]: a["score"] or 0.0 for a in main}
    weak = sorted(scores, key=lambda q: (scores[q], q))
    return {
        "session": session_id,
        "answered": sum(a["kind"] == "graded" for a in main),
        "skipped": sum(a["kind"] == "skipped" for a in main),
        "revealed": sum(a["kind"] == "revealed" for a in main),
        "follow_ups": sum(a["kind"] == "follow_up" for a in attempts),
        "mean_score": round(statistics.fmean(scores.values()), 1) if scores else None,
        "by_part": {p: round(statistics.fmean(v), 1) for p, v in sorted(per_part.items())},
        "strongest": point_values["covered"][:5],
        "weakest": point_values["missed"][:5],
        "read": [f"[{q}] {title[q]}" for q in weak if scores[q] < 7][:5],
    }
