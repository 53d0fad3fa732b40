"""Eval suites (retrieval, answer, grading, guardrails, judge): datasets under `evals/`, frozen
dev/test splits, reports written to `COACH_HOME/reports/`."""
