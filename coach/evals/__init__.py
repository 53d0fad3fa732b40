"""Eval suites (retrieval, answer, grading, guardrails, judge): datasets under `evals/`, frozen
dev/test splits, reports written to `COACH_HOME/reports/`."""

# Every suite: a module with run(cfg, split, limit, progress) -> the eval contract's summary.
# The CLI and the web app both read this table, so a new suite is one line here.
SUITES: dict[str, str] = {
    "retrieval": "coach.evals.retrieval",
    "answer": "coach.evals.answer",
    "grading": "coach.evals.grading",
    "guardrails": "coach.evals.guardrails",
    "judge": "coach.evals.judge",
}
