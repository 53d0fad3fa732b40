"""Answer eval: the Ask pipeline end to end on the golden Q&A set (`evals/answer/golden.jsonl`).

Two phases, cheap first. (1) Every question goes through `Asker.ask`; from the results alone come
the refusal rates (out-of-scope questions should be refused, in-scope ones answered), the model's
abstentions, citation validity, context recall by id and the deterministic support score.
(2) Every answer that was not refused is judged by ragas Faithfulness and AnswerRelevancy with the
local model (see ragas_judge.py). A judge score that comes back NaN counts as a failure (0) in
the mean and is counted. The faithfulness number is not calibrated yet: it carries
`judge_auc: null` until the judge eval measures the judge.
Rows use ragas' field names. Leaves out: grading interview answers (the grading eval).
"""

from __future__ import annotations

import gc
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence

from coach.ask import split_sentences, support_scores
from coach.config import Config
from coach.errors import CoachError
from coach.evals.common import EVALS_DIR, finish, load_rows, percentile, stratified_sample

GOLDEN = "answer/golden.jsonl"
JUDGE_REPORT = "judge/report-test.json"  # the committed full run of the judge eval
# Targets from the issue; reported next to the values, never used to tune anything.
TARGETS = {
    "oos_refusal_rate": (">=", 0.90),
    "in_scope_wrong_refusal_rate": ("<=", 0.03),
    "citation_validity": (">=", 1.0),
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
    oos_refused = sum(r["refused"] for r in outs)
    in_refused = sum(r["refused"] for r in ins)
    reasons = {
        scope: dict(Counter(r["refusal_reason"] for r in group if r["refused"]))
        for scope, group in (("in_scope", ins), ("out_of_scope", outs))
    }
    recall = [r["context_recall"] for r in ins if not math.isnan(r["context_recall"])]
    judged = [r for r in answered if "faithfulness" in r]
    ask_s = [r["ask_seconds"] for r in records if "ask_seconds" in r]
    judge_s = [r["judge_seconds"] for r in judged]
    metrics = {
        "in_scope_questions": len(ins),
        "out_of_scope_questions": len(outs),
        "answered": len(answered),
        "ask_errors": sum(bool(r.get("error")) for r in records),
        # -- refusals ------------------------------------------------------------------------
        "oos_refusal_rate": _rate(oos_refused, len(outs)),
        "in_scope_wrong_refusal_rate": _rate(in_refused, len(ins)),
        # The model's own "not in these sources" (abstain marker), apart from the scope gate.
        "abstention_rate": {
            "in_scope": _rate(sum(r["refusal_reason"] == "abstained" for r in ins), len(ins)),
            "out_of_scope": _rate(sum(r["refusal_reason"] == "abstained" for r in outs), len(outs)),
        },
        "refusal_reasons": reasons,
        # -- citations and retrieval ---------------------------------------------------------
        "citation_validity": _rate(sum(r["citations_valid"] for r in answered), len(answered)),
        "in_scope_cited_share": _rate(
            sum(bool(r["citations"]) for r in in_answered), len(in_answered)
        ),
        # The output guard strips invalid citations, so this shows how often the model made one.
        "invalid_citation_flagged_share": _rate(
            sum("invalid_citation" in r["flags"] for r in answered), len(answered)
        ),
        "context_recall_by_id": _mean(recall),
        # -- grounding -----------------------------------------------------------------------
        "support_mean": _mean([r["support"] for r in answered if r["support"] is not None]),
        # Every faithfulness figure carries its judge's measured test-split AUC (judge eval).
        "faithfulness": {
            **judged_mean([r["faithfulness"] for r in judged]),
            **judge_accuracy("ragas"),
        },
        "faithfulness_coach_judge": {
            **judged_mean([r["coach_faithfulness"] for r in answered if "coach_faithfulness" in r]),
            # Out-of-scope questions that slipped past the gate are answered from unrelated
            # sources, so the in-scope figure is the one about grounding itself.
            "in_scope_mean": _mean(
                [r["coach_faithfulness"] for r in in_answered if "coach_faithfulness" in r]
            ),
            "in_scope_supported_sentence_share": _rate(
                sum(
                    s["supported"] for r in in_answered for s in r.get("coach_judge_sentences", [])
                ),
                sum(len(r.get("coach_judge_sentences", [])) for r in in_answered),
            ),
            **judge_accuracy("coach"),
        },
        "answer_relevancy": judged_mean([r["answer_relevancy"] for r in judged]),
        "judge_errors": sum(len(r.get("judge_errors", ())) for r in judged),
        "latency_s": {
            "ask_p50": _round(percentile(ask_s, 50)),
            "ask_p95": _round(percentile(ask_s, 95)),
            "judge_per_answer_p50": _round(percentile(judge_s, 50)),
            "judge_per_answer_max": _round(max(judge_s)) if judge_s else None,
        },
    }
    metrics["targets"] = {name: _target(name, metrics[name]) for name in TARGETS}
    return metrics


def _round(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 2)


def _record(row: dict, result, k_sources: int, support: Callable) -> dict:
    """One report row in ragas' field names, from a golden row and the Ask result."""
    sources = list(result.sources)
    source_ids = [s.id for s in sources]
    # What search returned at the prompt's depth; refusals by the scope gate still retrieved.
    retrieved_ids = source_ids or list(result.retrieved_ids[:k_sources])
    record = {
        "id": row["id"],
        "kind": row["kind"],
        "in_scope": row["in_scope"],
        "user_input": row["user_input"],
        "response": result.answer,
        # Only what the generator saw: empty when the question was refused before generation.
        "retrieved_contexts": [] if result.refused else [s.passage for s in sources],
        "retrieved_context_ids": retrieved_ids,
        "reference": row.get("reference"),
        "reference_context_ids": row["reference_context_ids"],
        "refused": result.refused,
        "refusal_reason": result.refusal_reason,
        "citations": list(result.citations),
        "citations_valid": citations_valid(result.citations, source_ids),
        "flags": list(result.flags),
        "scope_score": result.scope_score,
        "context_recall": context_recall_by_id(row["reference_context_ids"], retrieved_ids),
        "support": None,
        "ask_seconds": result.timing.get("total_s"),
    }
    if not result.refused:
        sentences = split_sentences(result.answer)
        scores = support(sentences, record["retrieved_contexts"]) if sentences else []
        record["support"] = _mean(scores)
        record["support_sentences"] = [
            {"text": s, "score": sc} for s, sc in zip(sentences, scores, strict=True)
        ]
    return record


def _error_record(row: dict, exc: Exception) -> dict:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "in_scope": row["in_scope"],
        "user_input": row["user_input"],
        "response": "",
        "retrieved_contexts": [],
        "retrieved_context_ids": [],
        "reference": row.get("reference"),
        "reference_context_ids": row["reference_context_ids"],
        "refused": False,
        "refusal_reason": None,
        "citations": [],
        "citations_valid": True,
        "flags": [],
        "context_recall": context_recall_by_id(row["reference_context_ids"], []),
        "support": None,
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
    support: Callable | None = None,
    coach_judge=None,
    with_ragas: bool = True,
) -> dict:
    """Run the suite; `asker`, the judges and `support` are for tests (fakes), None = real."""
    start = time.perf_counter()
    say = progress or (lambda msg: None)
    rows = stratified_sample(load_rows(GOLDEN, split), limit, key=stratum)
    support = support or support_scores
    if asker is None:
        from coach.ask import Asker, TurnLog

        # The eval's turns go next to its report, not into the user's turn log.
        turns = cfg.reports_dir / f"answer-{split}-{time.strftime('%Y%m%d-%H%M%S')}.turns.jsonl"
        asker = Asker(cfg, turn_log=TurnLog(turns))
    asker.warm_up()

    # Phase 1: answers and the cheap, id-based metrics.
    records = []
    for i, row in enumerate(rows, 1):
        try:
            result = asker.ask(row["user_input"])
        except CoachError as exc:  # e.g. BadInput: the row fails, the run goes on
            records.append(_error_record(row, exc))
            continue
        records.append(_record(row, result, cfg.k_sources, support))
        say(f"  answer eval: asked {i}/{len(rows)}")
    # Only one model should compete for the 2 cores: the in-process one is idle from here, and
    # dropping our reference lets it go when nothing else holds it.
    del asker
    gc.collect()

    # Phase 2: the LLM judge, one answer at a time.
    to_judge = [r for r in records if not r["refused"] and not r.get("error")]
    own_judge = judge is None and with_ragas
    if own_judge:
        from coach.evals.ragas_judge import RagasJudge

        judge = RagasJudge(cfg)
    judge_stats: dict = {}
    try:
        for i, record in enumerate(to_judge if judge is not None else [], 1):
            scores = judge.score(
                record["user_input"], record["response"], record["retrieved_contexts"]
            )
            record["faithfulness"] = scores.faithfulness
            record["answer_relevancy"] = scores.answer_relevancy
            record["judge_seconds"] = scores.seconds
            record["judge_errors"] = list(scores.errors)
            say(f"  answer eval: judged {i}/{len(to_judge)} ({scores.seconds:.0f} s)")
        judge_stats = judge.stats() if hasattr(judge, "stats") else {}
    finally:
        if own_judge:
            judge.close()

    # Phase 3: the product's own faithfulness judge, against the passages the model saw.
    coach_judge = coach_judge or _default_coach_judge(cfg)
    for i, record in enumerate(to_judge, 1):
        sentences = split_sentences(record["response"])
        if sentences and record["retrieved_contexts"]:
            verdict = coach_judge.judge_against(sentences, record["retrieved_contexts"])
            record["coach_faithfulness"] = verdict.faithfulness
            record["coach_judge_sentences"] = [s.to_json() for s in verdict.sentences]
        say(f"  answer eval: coach judge {i}/{len(to_judge)}")

    metrics = summarize(records)
    metrics["coach_judge"] = coach_judge.name
    metrics["judge"] = {
        **judge_stats,
        "metrics": "ragas Faithfulness, AnswerRelevancy(strictness=1)"
        if judge is not None
        else "ragas not run in this report (with_ragas=False)",
    }
    metrics["config"] = {"model": cfg.model, "backend": cfg.backend, "k_sources": cfg.k_sources}
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
