"""Mock interviews: rubrics, grading, sessions, the progress store and the review schedule.

rubrics.py loads `corpus/rubrics.json` (rubric_draft.py drafts it extractively), grade.py grades
an answer against a question's rubric, session.py runs an interview (plan, ask, grade, follow
up, record), store*.py keep progress in SQLite, schedule.py is SM-2 spaced repetition (pure).
Public names: Grader, Grade, model_answer, Rubric, RubricPoint, load_rubrics, InterviewSession,
Step, MAX_COUNT, plan_questions, ProgressStore, ProgressError, reset_database, ReviewState,
pick_next.
Must not import: evals, ui, cli, search.training.
"""

from coach.interview.grade import Grade, Grader, model_answer
from coach.interview.rubrics import Rubric, RubricPoint, load_rubrics
from coach.interview.schedule import ReviewState, pick_next
from coach.interview.session import MAX_COUNT, InterviewSession, Step, plan_questions
from coach.interview.store import ProgressStore
from coach.interview.store_schema import ProgressError, reset_database

__all__ = [
    "Grade",
    "Grader",
    "InterviewSession",
    "MAX_COUNT",
    "ProgressError",
    "ProgressStore",
    "ReviewState",
    "Rubric",
    "RubricPoint",
    "Step",
    "load_rubrics",
    "model_answer",
    "pick_next",
    "plan_questions",
    "reset_database",
]
