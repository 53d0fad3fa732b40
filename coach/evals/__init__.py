"""Eval suites (retrieval, answer, grading, guardrails, judge, collections): datasets under
`evals/`, frozen dev/test splits, reports written to `COACH_HOME/reports/`.

Each suite is a module with `run(cfg, split, limit, progress)` returning the eval contract's
summary, listed in `SUITES`; a new suite is a module plus one line there. common.py holds the
metrics and report helpers, overlap.py the one decontamination check shared by every training
and eval file.
Public names: SUITES, NOT_IN_ALL, EVALS_DIR, load_rows, percentile, stratified_sample, overlapping.
Must not be imported by the pipeline stages (handbook, search, llm, guardrails, ask,
interview); the UI, the CLI and the offline training steps may import it.
"""

from coach.evals.common import (
    EVALS_DIR,
    hit_at,
    load_rows,
    mrr_at,
    percentile,
    roc_auc,
    stratified_sample,
)
from coach.evals.overlap import overlapping

SUITES: dict[str, str] = {
    "retrieval": "coach.evals.retrieval",
    "answer": "coach.evals.answer",
    "grading": "coach.evals.grading",
    "guardrails": "coach.evals.guardrails",
    "judge": "coach.evals.judge",
    "collections": "coach.evals.collections",
}
# Suites `--suite all` leaves out: the collections eval needs the python3.11-doc system package,
# which the app itself does not.
NOT_IN_ALL = ("collections",)

__all__ = [
    "EVALS_DIR",
    "NOT_IN_ALL",
    "SUITES",
    "hit_at",
    "load_rows",
    "mrr_at",
    "overlapping",
    "percentile",
    "roc_auc",
    "stratified_sample",
]
