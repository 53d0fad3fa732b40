"""The answer-faithfulness gate of CI (issue: faithfulness evals that gate CI).

Runs the real Ask pipeline on the frozen CI subset of the correctness set's dev split
(evals/answer/ci_subset.json: 22 covered, 6 uncovered questions), the coach judge on every
answer and ragas on a stratified 2 (its plumbing; ragas' figures come from the full eval),
writes the report to $COACH_TEST_ARTIFACTS, and fails on any answer that makes a labelled wrong
statement, any ungrounded sentence shown as an answer, or a mean coach-judge faithfulness below
the floor in evals/answer/ci_gate.json (set from the value measured when the gate was
introduced, minus a margin for judge noise).
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from coach.config import load_config
from coach.evals import EVALS_DIR, load_rows
from coach.evals import answer as answer_eval

ARTIFACTS = Path(os.environ.get("COACH_TEST_ARTIFACTS", "/tmp/coach-artifacts"))


def _subset() -> list[dict]:
    ids = json.loads((EVALS_DIR / "answer" / "ci_subset.json").read_text())
    wanted = ids["covered"] + ids["uncovered"]
    rows = {r["id"]: r for r in load_rows(answer_eval.CORRECTNESS, "dev")}
    return [rows[i] for i in wanted]


def test_subset_is_frozen_dev_rows():
    rows = _subset()
    assert sum(r["in_scope"] for r in rows) >= 20 and sum(not r["in_scope"] for r in rows) >= 5
    assert all(r["split"] == "dev" for r in rows)


@pytest.mark.real
def test_answer_gate(real_models, shared_index_dir, monkeypatch, coach_home):
    monkeypatch.setenv("COACH_INDEX_DIR", str(shared_index_dir))
    gate = json.loads((EVALS_DIR / "answer" / "ci_gate.json").read_text())
    out = answer_eval.run(load_config(), split="dev", rows=_subset(), ragas_limit=2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(out["report"], ARTIFACTS / "answer-gate-report.json")
    m = out["metrics"]
    report = json.loads(Path(out["report"]).read_text())
    wrong = [(r["id"], r["must_not_made"]) for r in report["rows"] if r.get("must_not_made")]
    ungrounded = [(r["id"], r["ungrounded"]) for r in report["rows"] if r.get("ungrounded")]
    assert not wrong, f"answers that contradict the handbook: {wrong}"
    assert not ungrounded, f"ungrounded text shown as an answer: {ungrounded}"
    faith = m["faithfulness_coach_judge"]["mean"]
    assert faith is not None and faith >= gate["coach_faithfulness_floor"], (
        f"mean coach-judge faithfulness {faith} is below the floor {gate}"
    )
    # Every answered row is judged by the coach judge; ragas judged its sample (NaN is allowed
    # and counted, a crash is not) and keeps its files under COACH_HOME, not the user's dir.
    answered = [r for r in report["rows"] if not r["refused"]]
    assert len(answered) >= 20 and all("coach_faithfulness" in r for r in answered)
    assert m["ragas"]["answers_judged"] == 2
    assert sum("faithfulness" in r and "answer_relevancy" in r for r in answered) == 2
    assert (coach_home / "cache" / "judge-ragas.sqlite3").exists()
