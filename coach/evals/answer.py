"""Answer eval: the Ask pipeline end to end on the answer-correctness set
(`evals/answer/correctness.jsonl`: real interview questions with the key facts a correct answer
states and the wrong statements it must not make, written by an independent author).

Cheap, model-free checks first (answer_checks.py), per answer: refused or not, contradicts the
handbook (a labelled must-not statement made), key facts present, citations correct (cited
sections among the question's reference sections), ungrounded sentences shown, sentence count,
time to first token, and in generate mode the sentence gate's counts and how often the model's
own bracket disagreed with the aligned section. Then the judges, one answer at a time: the
coach's faithfulness judge on every answer, ragas Faithfulness and AnswerRelevancy on a
stratified sample (`ragas_limit`; every figure beside its judge's measured AUC). Rows use ragas'
field names. Leaves out: grading interview answers (the grading eval).
"""

from __future__ import annotations

import gc
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence

from coach.config import Config
from coach.errors import CoachError
from coach.evals.answer_checks import (
    claims_of,
    is_verdict,
    key_facts_present,
    must_not_stated,
    ungrounded_sentences,
)
from coach.evals.common import EVALS_DIR, finish, load_rows, percentile, stratified_sample

CORRECTNESS = "answer/correctness.jsonl"
JUDGE_REPORT = "judge/report-test.json"  # the committed full run of the judge eval
# Targets from the issue; reported next to the values, never used to tune anything.
TARGETS = {
    "answers_contradicting": ("<=", 0),
    "answers_with_ungrounded_text": ("<=", 0),
    "key_facts_present": (">=", 0.80),
    "in_scope_wrong_refusal_rate": ("<=", 0.03),
    "oos_refusal_rate": (">=", 0.90),
    "first_token_p50_s": ("<=", 3.0),
}


def stratum(row: dict) -> str:
    """Stratify `--limit` samples by scope, so a small sample still tests both behaviours."""
    return "in_scope" if row["in_scope"] else "out_of_scope"


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def judged_mean(values: Sequence[float]) -> dict:
    """Mean of judge scores where NaN counts as a failure (0), plus the NaN count.

    >>> judged_mean([1.0, float("nan"), 0.5])
    {'mean': 0.5, 'mean_excluding_nan': 0.75, 'n': 3, 'nan_count': 1}
    >>> judged_mean([])
    {'mean': None, 'mean_excluding_nan': None, 'n': 0, 'nan_count': 0}
    """
    valid = [v for v in values if not math.isnan(v)]
    return {
        "mean": _mean([0.0 if math.isnan(v) else v for v in values]),
        "mean_excluding_nan": _mean(valid),
        "n": len(values),
        "nan_count": len(values) - len(valid),
    }


def context_recall_by_id(reference_ids: Sequence[str], retrieved_ids: Sequence[str]) -> float:
    """Share of the reference sections among the retrieved ones.

    >>> context_recall_by_id(["Q17", "Q19"], ["Q17", "Q15", "Q16"])
    0.5
    """
    if not reference_ids:
        return math.nan
    return len(set(reference_ids) & set(retrieved_ids)) / len(set(reference_ids))


def citations_valid(citations: Sequence[str], source_ids: Sequence[str]) -> bool:
    """All cited ids are among the sources the answer was given (no citation is vacuously valid).

    >>> citations_valid(["Q32"], ["Q32", "Q34"]), citations_valid(["Q15"], ["Q32"])
    (True, False)
    """
    return set(citations) <= set(source_ids)


def _target(name: str, value: float | None) -> dict:
    op, bound = TARGETS[name]
    met = None if value is None else (value >= bound if op == ">=" else value <= bound)
    return {"target": f"{op} {bound}", "value": value, "met": met}


def judge_accuracy(name: str) -> dict:
    """The judge's accuracy on the judge set's test split, from the committed report."""
    try:
        report = json.loads((EVALS_DIR / JUDGE_REPORT).read_text(encoding="utf-8"))
        measured = report["metrics"]["judges"][name]
    except (OSError, ValueError, KeyError):
        return {"judge_auc": None, "judge_note": f"no measured accuracy in evals/{JUDGE_REPORT}"}
    return {
        "judge_auc": measured["auc"],
        "judge_rows": measured.get("rows", report["n"]),
        "judge_note": f"AUC on the judge set's test split (evals/{JUDGE_REPORT})",
    }


def summarize(records: Sequence[dict]) -> dict:
    """The eval's metrics from per-row records (see `_record`); pure, so tests can hand-check it."""
    ins = [r for r in records if r["in_scope"]]
    outs = [r for r in records if not r["in_scope"]]
    answered = [r for r in records if not r["refused"] and not r.get("error")]
    in_answered = [r for r in ins if not r["refused"] and not r.get("error")]
    reasons = {
        scope: dict(Counter(r["refusal_reason"] for r in group if r["refused"]))
        for scope, group in (("in_scope", ins), ("out_of_scope", outs))
    }
    facts = [f for r in in_answered for f in r["key_facts_present"]]
    content = [
        f
        for r in in_answered
        for f, v in zip(r["key_facts_present"], r["fact_is_verdict"], strict=True)
        if not v
    ]
    recall = [r["context_recall"] for r in ins if not math.isnan(r["context_recall"])]
    judged = [r for r in answered if "faithfulness" in r]
    checks = [r["checks"] for r in answered if r.get("checks", {}).get("sentences")]
    metrics = {
        "in_scope_questions": len(ins),
        "out_of_scope_questions": len(outs),
        "answered": len(answered),
        "ask_errors": sum(bool(r.get("error")) for r in records),
        # -- correctness ---------------------------------------------------------------------
        "answers_contradicting": sum(bool(r["must_not_made"]) for r in answered),
        "answers_with_ungrounded_text": sum(bool(r["ungrounded"]) for r in answered),
        "key_facts_present": _mean([float(f) for f in facts]),
        "key_facts_present_without_verdict_words": _mean([float(f) for f in content]),
        "citations_correct": _rate(
            sum(c in r["reference_context_ids"] for r in in_answered for c in r["citations"]),
            sum(len(r["citations"]) for r in in_answered),
        ),
        "sentences_per_answer": _mean([r["sentences"] for r in in_answered]),
        "words_per_answer": _mean([r["words"] for r in in_answered]),
        # -- refusals ------------------------------------------------------------------------
        "oos_refusal_rate": _rate(sum(r["refused"] for r in outs), len(outs)),
        "in_scope_wrong_refusal_rate": _rate(sum(r["refused"] for r in ins), len(ins)),
        "refusal_reasons": reasons,
        "context_recall_by_id": _mean(recall),
        # -- generate mode: the sentence gate ------------------------------------------------
        "gate": {
            "answers": len(checks),
            # What the model wrote before the gate, by the same checks as what was shown.
            "model_answers_contradicting": sum(
                bool(r.get("model_must_not_made")) for r in answered if "model_text" in r
            ),
            "model_answers_with_ungrounded_text": sum(
                bool(r.get("model_ungrounded")) for r in answered if "model_text" in r
            ),
            "sentences": sum(c["sentences"] for c in checks),
            "replaced": sum(c["replaced"] for c in checks),
            "dropped": sum(c["dropped"] for c in checks),
            "bracket_disagreement_rate": _rate(
                sum(c["bracket_disagreements"] for c in checks),
                sum(c["quoted"] + c["replaced"] for c in checks),
            ),
        },
        # -- faithfulness, each figure beside its judge's measured accuracy ------------------
        "faithfulness_coach_judge": {
            **judged_mean([r["coach_faithfulness"] for r in answered if "coach_faithfulness" in r]),
            **judge_accuracy("coach"),
        },
        "faithfulness_ragas": {
            **judged_mean([r["faithfulness"] for r in judged]),
            **judge_accuracy("ragas"),
        },
        "answer_relevancy_ragas": judged_mean([r["answer_relevancy"] for r in judged]),
        "latency_s": {
            "first_token_p50": _round(
                percentile(
                    [r["first_token_s"] for r in answered if r["first_token_s"] is not None], 50
                )
            ),
            "first_token_p95": _round(
                percentile(
                    [r["first_token_s"] for r in answered if r["first_token_s"] is not None], 95
                )
            ),
            "ask_p50": _round(
                percentile(
                    [r["ask_seconds"] for r in records if r.get("ask_seconds") is not None], 50
                )
            ),
        },
    }
    metrics["first_token_p50_s"] = metrics["latency_s"]["first_token_p50"]
    metrics["targets"] = {name: _target(name, metrics[name]) for name in TARGETS}
    return metrics


def _round(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 2)


class _Checker:
    """The model-free per-answer checks, with the handbook's statements and one embedder."""

    def __init__(self, embed=None):
        from coach.handbook import statements_by_section

        self.by_section = statements_by_section()
        self.all = [st for sts in self.by_section.values() for st in sts]
        if embed is None:
            from coach.search import default_embedder

            embed = default_embedder().embed
        self.embed = embed

    def record(self, row: dict, result) -> dict:
        source_ids = [s.id for s in result.sources]
        record = {
            "id": row["id"],
            "style": row.get("style"),
            "in_scope": row["in_scope"],
            "user_input": row["user_input"],
            "response": result.answer,
            "retrieved_contexts": [] if result.refused else [s.passage for s in result.sources],
            "retrieved_context_ids": source_ids or list(result.retrieved_ids),
            "reference_context_ids": row["reference_context_ids"],
            "refused": result.refused,
            "refusal_reason": result.refusal_reason,
            "mode": result.mode,
            "citations": list(result.citations),
            "citations_valid": citations_valid(result.citations, source_ids),
            "flags": list(result.flags),
            "scope_score": result.scope_score,
            "context_recall": context_recall_by_id(
                row["reference_context_ids"], list(result.retrieved_ids)
            ),
            "first_token_s": result.timing.get("first_token_s"),
            "ask_seconds": result.timing.get("total_s"),
            "checks": {
                k: v for k, v in result.checks.items() if k not in ("verdicts", "model_text")
            },
            "gate_verdicts": result.checks.get("verdicts", []),
            "must_not_made": [],
            "ungrounded": [],
            "key_facts_present": [],
            "fact_is_verdict": [],
        }
        if result.refused:
            return record
        candidates = [st for sid in row["reference_context_ids"] for st in self.by_section[sid]]
        quoted = result.checks.get("statements", [])
        record["must_not_made"] = must_not_stated(row.get("must_not", []), result.answer)
        if "model_text" in result.checks:  # generate mode: what the model wrote, before the gate
            raw = result.checks["model_text"]
            record["model_text"] = raw
            record["model_must_not_made"] = must_not_stated(row.get("must_not", []), raw)
            record["model_ungrounded"] = ungrounded_sentences(raw, self.all)
        record["ungrounded"] = ungrounded_sentences(result.answer, self.all)
        record["key_facts_present"] = key_facts_present(
            row.get("key_facts", []), result.answer, quoted, candidates, self.embed
        )
        record["fact_is_verdict"] = [is_verdict(f) for f in row.get("key_facts", [])]
        claims = claims_of(result.answer)
        record["sentences"] = len(claims)
        record["words"] = sum(len(c.split()) for c in claims)
        return record


def _error_record(row: dict, exc: Exception) -> dict:
    return {
        "id": row["id"],
        "in_scope": row["in_scope"],
        "user_input": row["user_input"],
        "response": "",
        "reference_context_ids": row["reference_context_ids"],
        "refused": False,
        "refusal_reason": None,
        "citations": [],
        "context_recall": context_recall_by_id(row["reference_context_ids"], []),
        "first_token_s": None,
        "error": f"{type(exc).__name__}: {exc}",
    }


def run(
    cfg: Config,
    split: str = "test",
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    asker=None,
    judge=None,
    coach_judge=None,
    embed=None,
    ragas_limit: int | None = 12,
    rows: Sequence[dict] | None = None,
) -> dict:
    """Run the suite; `asker`, the judges and `embed` are for tests (fakes), None = real.

    `ragas_limit`: ragas judges a stratified sample of that many answers (None: all, 0: none);
    `rows`: an explicit list of rows instead of the split (the CI gate's frozen subset)."""
    start = time.perf_counter()
    say = progress or (lambda msg: None)
    if rows is None:
        rows = stratified_sample(load_rows(CORRECTNESS, split), limit, key=stratum)
    if asker is None:
        from coach.ask import Asker, TurnLog

        # The eval's turns go next to its report, not into the user's turn log.
        turns = cfg.reports_dir / f"answer-{split}-{time.strftime('%Y%m%d-%H%M%S')}.turns.jsonl"
        asker = Asker(cfg, turn_log=TurnLog(turns))
    asker.warm_up()
    checker = _Checker(embed)

    # Phase 1: answers and the model-free checks.
    records = []
    for i, row in enumerate(rows, 1):
        try:
            result = asker.ask(row["user_input"])
        except CoachError as exc:  # e.g. BadInput: the row fails, the run goes on
            records.append(_error_record(row, exc))
            continue
        records.append(checker.record(row, result))
        say(f"  answer eval: asked {i}/{len(rows)}")
    del asker
    gc.collect()

    to_judge = [r for r in records if not r["refused"] and not r.get("error")]
    # Phase 2: the coach's faithfulness judge on every answer, against the passages it used.
    coach_judge = coach_judge or _default_coach_judge(cfg)
    for i, record in enumerate(to_judge, 1):
        sentences = claims_of(record["response"])
        if sentences and record["retrieved_contexts"]:
            verdict = coach_judge.judge_against(sentences, record["retrieved_contexts"])
            record["coach_faithfulness"] = verdict.faithfulness
            record["coach_judge_sentences"] = [s.to_json() for s in verdict.sentences]
        say(f"  answer eval: coach judge {i}/{len(to_judge)}")

    # Phase 3: ragas on a stratified sample, one answer at a time (30-50 s each on 2 cores).
    if ragas_limit == 0 or not to_judge:
        sample = []
    elif ragas_limit is None:
        sample = to_judge
    else:
        sample = stratified_sample(to_judge, ragas_limit, key=stratum)
    own_judge = judge is None and sample
    if own_judge:
        from coach.evals.ragas_judge import RagasJudge

        judge = RagasJudge(cfg)
    judge_stats: dict = {}
    try:
        for i, record in enumerate(sample if judge is not None else [], 1):
            scores = judge.score(
                record["user_input"], record["response"], record["retrieved_contexts"]
            )
            record["faithfulness"] = scores.faithfulness
            record["answer_relevancy"] = scores.answer_relevancy
            record["judge_seconds"] = scores.seconds
            record["judge_errors"] = list(scores.errors)
            say(f"  answer eval: ragas {i}/{len(sample)} ({scores.seconds:.0f} s)")
        judge_stats = judge.stats() if judge is not None and hasattr(judge, "stats") else {}
    finally:
        if own_judge:
            judge.close()

    metrics = summarize(records)
    metrics["coach_judge"] = coach_judge.name
    metrics["ragas"] = {**judge_stats, "answers_judged": len(sample)}
    metrics["config"] = {
        "model": cfg.model,
        "backend": cfg.backend,
        "answer_mode": cfg.answer_mode,
        "k_sources": cfg.k_sources,
    }
    report = {
        "suite": "answer",
        "split": split,
        "n": len(records),
        "metrics": metrics,
        "rows": [_jsonable(r) for r in records],
    }
    return finish(cfg, report, start)


def _default_coach_judge(cfg: Config):
    from coach.ask import Judge

    return Judge(cfg)


def _jsonable(record: dict) -> dict:
    """NaN is not JSON: write it as null (the metrics already counted it)."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}
