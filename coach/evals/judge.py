"""Judge eval: how well each faithfulness judge separates faithful answers from unfaithful ones.

Datasets (frozen): evals/judge/set.jsonl (dev/test split by source question) and
evals/judge/swaps.jsonl (faithful answers and their swapped-roles or inverted-direction twins,
same split), reported together and per category; on the test split also evals/judge/fresh.jsonl,
answers written in their own words by an author who never saw the judge (the held-out figure).
Each row is a question, the handbook sections it is judged against, and an answer labelled
faithful or not, with a label per sentence. Judges compared, on the same rows:
- `coach`: the product's judge (LLM verdicts + support score, coach/ask/judge.py);
- `support`: the deterministic support score alone;
- `llm`: the LLM verdicts alone (share of sentences it calls supported);
- `ragas`: ragas 0.4.3 Faithfulness with the same local model as judge (llama_cpp.server), on a
  stratified subset because it costs ~30-49 s per answer on this CPU; the coach judge is scored on
  the same subset, each AUC with a bootstrap 95% interval, and their difference with a paired
  one.
Per judge: ROC AUC (faithful = positive), accuracy at its threshold, same-question pairs where
the unfaithful answer scores below the faithful one, sentence-level precision/recall of
"unsupported" flags, seconds per answer, NaN count. The raw per-row signals are cached in
COACH_HOME/cache, so an interrupted run resumes and re-tuning replays without the model.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from dataclasses import replace
from itertools import product
from pathlib import Path

from coach.ask import JudgeSettings, combine, split_sentences
from coach.config import Config
from coach.evals.common import (
    bootstrap_interval,
    finish,
    load_rows,
    percentile,
    roc_auc,
    stratified_sample,
)

DATASET = "judge/set.jsonl"
SWAPS = "judge/swaps.jsonl"
FRESH = "judge/fresh.jsonl"
RAGAS_FULL = 40  # ragas rows by category in a full run, topped up to half faithful (55 rows)
RAGAS_LIMITED = 2  # ragas rows when --limit is used (CI smoke: proves the plumbing)


def _key(row: dict, model: str) -> str:
    blob = json.dumps([row["answer"], row["sources"], model, "judge.yaml:3"], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class RowCache:
    """Append-only JSONL of raw judge signals per row: resumable, replayable."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: dict[str, dict] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    item = json.loads(line)
                    self.rows[item["key"]] = item
                except (ValueError, KeyError):
                    continue  # a line cut by a killed run: recomputed
        path.parent.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> dict | None:
        return self.rows.get(key)

    def put(self, item: dict) -> None:
        self.rows[item["key"]] = item
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(item) + "\n")
            f.flush()


def labelled_sentences(row: dict) -> tuple[list[str], list[bool]]:
    """The row's sentences as the judge sees them (citations removed) and their labels."""
    texts, labels = [], []
    for s in row["sentences"]:
        text = " ".join(split_sentences(s["text"])) or s["text"]
        texts.append(text)
        labels.append(bool(s["supported"]))
    return texts, labels


def _signals(row: dict, judge, cache: RowCache) -> dict:
    key = _key(row, judge.name)
    sentences, _ = labelled_sentences(row)
    passages = judge.passages(row["sources"])
    hit = cache.get(key)
    if hit is not None:
        return hit
    t = time.perf_counter()
    support, llm = judge.signals(sentences, passages)
    item = {"key": key, "id": row["id"], "support": support, "llm": llm}
    item["seconds"] = round(time.perf_counter() - t, 3)
    cache.put(item)
    return item


def score_rows(rows: list[dict], signals: dict[str, dict], settings: JudgeSettings) -> dict:
    """Per row: the coach judge's, the support-only and the LLM-only answer scores and flags."""
    out = {}
    for row in rows:
        sig = signals[row["id"]]
        sentences, _ = labelled_sentences(row)
        coach = combine(sentences, sig["support"], sig["llm"], settings, "coach")
        support_only = combine(sentences, sig["support"], None, settings, "support")
        llm_only = combine(
            sentences, sig["llm"], None, replace(settings, sentence_threshold=0.5), "llm"
        )
        out[row["id"]] = {
            name: (j.faithfulness, [not s.supported for s in j.sentences])
            for name, j in (("coach", coach), ("support", support_only), ("llm", llm_only))
        }
    return out


def judge_metrics(rows: list[dict], scored: dict, name: str, threshold: float) -> dict:
    """AUC, accuracy, pair ordering and sentence-level P/R for one judge's scores."""
    pos = [scored[r["id"]][name][0] for r in rows if r["label"] == "faithful"]
    neg = [scored[r["id"]][name][0] for r in rows if r["label"] != "faithful"]
    nan = sum(math.isnan(v) for v in pos + neg)
    pos_ok = [v for v in pos if not math.isnan(v)]
    neg_ok = [v for v in neg if not math.isnan(v)]
    correct = 0
    tp = fp = fn = 0
    for r in rows:
        value, flags = scored[r["id"]][name]
        faithful_call = (not math.isnan(value)) and not any(flags) if flags else value >= threshold
        correct += faithful_call == (r["label"] == "faithful")
        if flags:
            _, labels = labelled_sentences(r)
            for flagged, supported in zip(flags, labels, strict=False):
                tp += flagged and not supported
                fp += flagged and supported
                fn += (not flagged) and not supported
    pairs = same_question_pairs(rows, {r["id"]: scored[r["id"]][name][0] for r in rows})
    return {
        "auc": round(roc_auc(pos_ok, neg_ok), 4) if pos_ok and neg_ok else None,
        "accuracy": round(correct / len(rows), 4) if rows else None,
        "pairs_ordered": pairs,
        "sentence_precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "sentence_recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "mean_faithful": round(statistics.fmean(pos_ok), 4) if pos_ok else None,
        "mean_unfaithful": round(statistics.fmean(neg_ok), 4) if neg_ok else None,
        "nan": nan,
    }


def by_category(rows: list[dict], scored: dict, name: str) -> dict:
    """AUC of faithful rows against each unfaithful category's rows."""
    pos = [scored[r["id"]][name][0] for r in rows if r["label"] == "faithful"]
    out = {}
    for cat in sorted({r["category"] for r in rows if r["label"] != "faithful"}):
        neg = [scored[r["id"]][name][0] for r in rows if r["category"] == cat]
        pos_ok = [v for v in pos if not math.isnan(v)]
        neg_ok = [v for v in neg if not math.isnan(v)]
        auc = roc_auc(pos_ok, neg_ok) if pos_ok and neg_ok else None
        out[cat] = {"n": len(neg), "auc": None if auc is None else round(auc, 4)}
    return out


def _auc(sample: list[dict], values: dict[str, float]) -> float:
    pos = [values[r["id"]] for r in sample if r["label"] == "faithful"]
    neg = [values[r["id"]] for r in sample if r["label"] != "faithful"]
    pos = [v for v in pos if not math.isnan(v)]
    neg = [v for v in neg if not math.isnan(v)]
    return roc_auc(pos, neg) if pos and neg else float("nan")


def auc_interval(rows: list[dict], values: dict[str, float]) -> tuple[float, float] | None:
    """Bootstrap 95% interval of the AUC, resampling rows."""
    return bootstrap_interval(lambda sample: _auc(sample, values), rows)


def paired_difference(
    rows: list[dict], a: dict[str, float], b: dict[str, float]
) -> tuple[float, float] | None:
    """Bootstrap 95% interval of AUC(a) - AUC(b) on the same resampled rows: two judges
    compared on one sample, so their shared row difficulty cancels out."""
    return bootstrap_interval(lambda sample: _auc(sample, a) - _auc(sample, b), rows)


def ragas_subset(rows: list[dict], n: int) -> list[dict]:
    """`n` rows stratified by category, topped up with faithful rows (spread over source
    questions) until half of `n` are faithful: "faithful" is one category among nine, and an
    AUC over five positives has too wide an interval to compare judges."""
    subset = stratified_sample(rows, n, key=_category)
    chosen = {r["id"] for r in subset}
    faithful = [r for r in rows if r["label"] == "faithful" and r["id"] not in chosen]
    missing = n // 2 - sum(r["label"] == "faithful" for r in subset)
    if missing > 0 and faithful:
        subset += stratified_sample(faithful, missing, key=lambda r: r["source_question"])
    return subset


def _category(row: dict) -> str:
    return row["category"]


def same_question_pairs(rows: list[dict], values: dict[str, float]) -> dict:
    """(faithful, unfaithful) pairs on the same source question: unfaithful scored lower?"""
    total = right = 0
    for f in rows:
        if f["label"] != "faithful":
            continue
        for u in rows:
            if u["label"] == "faithful" or u["source_question"] != f["source_question"]:
                continue
            a, b = values[f["id"]], values[u["id"]]
            if math.isnan(a) or math.isnan(b):
                continue
            total += 1
            right += b < a
    return {"pairs": total, "share": round(right / total, 4) if total else None}


def tune(rows: list[dict], signals: dict[str, dict]) -> list[dict]:
    """The dev-split grid over the combination's settings (run with --split dev)."""
    grid = []
    shares = [0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0]
    thresholds = [0.4, 0.5, 0.6, 0.7]
    for share, threshold, min_share in product(shares, thresholds, [0.0, 0.5, 1.0]):
        settings = JudgeSettings(share, threshold, min_share)
        m = judge_metrics(rows, score_rows(rows, signals, settings), "coach", threshold)
        grid.append({**vars(settings), **m})
    return sorted(grid, key=lambda g: (-(g["auc"] or 0), -(g["accuracy"] or 0)))


def _ragas(cfg: Config, rows: list[dict], limit: int | None, progress, passages) -> dict:
    """ragas Faithfulness on a stratified subset; `passages` maps source ids to section texts
    (the coach judge's, so both judges read the same sources)."""
    from coach.evals.ragas_judge import RagasJudge

    n = RAGAS_LIMITED if limit is not None else RAGAS_FULL
    subset = ragas_subset(rows, n) if limit is None else stratified_sample(rows, n, key=_category)
    judge = RagasJudge(cfg, metrics=("faithfulness",))
    values: dict[str, float] = {}
    seconds = []
    try:
        for i, row in enumerate(subset, 1):
            scores = judge.score(row["question"], row["answer"], passages(row["sources"]))
            values[row["id"]] = scores.faithfulness
            seconds.append(scores.seconds)
            if progress:
                progress(f"  ragas {i}/{len(subset)} {row['id']}: {scores.faithfulness}")
        stats = judge.stats()
    finally:
        judge.close()
    scored = {rid: {"ragas": (v, [])} for rid, v in values.items()}
    metrics = judge_metrics(subset, scored, "ragas", threshold=0.5)
    metrics["rows"] = len(subset)
    metrics["auc_interval_95"] = auc_interval(subset, values)
    metrics["seconds_per_answer_p50"] = round(percentile(seconds, 50), 2) if seconds else None
    metrics["judge"] = stats["judge"]
    return {"metrics": metrics, "values": values, "subset": subset}


def run(
    cfg: Config,
    split: str = "test",
    limit: int | None = None,
    progress=None,
    judge=None,
    with_ragas: bool = True,
) -> dict:
    from coach.ask import Judge

    start = time.perf_counter()
    rows = load_rows(DATASET, split) + load_rows(SWAPS, split)
    rows = stratified_sample(rows, limit, key=_category)
    # The held-out set is test-only: it is never looked at while tuning.
    fresh = load_rows(FRESH, "test") if split == "test" else []
    fresh = stratified_sample(fresh, limit, key=_category) if fresh else []
    judge = judge or Judge(cfg)
    judge.warm_up()
    cache = RowCache(cfg.home / "cache" / "judge-coach.jsonl")
    signals = {}
    for i, row in enumerate(rows + fresh, 1):
        signals[row["id"]] = _signals(row, judge, cache)
        if progress:
            progress(f"  judge {i}/{len(rows) + len(fresh)} {row['id']}")
    settings = judge.settings
    threshold = settings.sentence_threshold

    def measure(subset: list[dict]) -> dict:
        scored = score_rows(subset, signals, settings)
        out = {
            "n": len(subset),
            "faithful": sum(r["label"] == "faithful" for r in subset),
            "judges": {
                name: judge_metrics(subset, scored, name, threshold)
                for name in ("coach", "support", "llm")
            },
            "by_category": by_category(subset, scored, "coach"),
        }
        coach_values = {r["id"]: scored[r["id"]]["coach"][0] for r in subset}
        out["judges"]["coach"]["auc_interval_95"] = auc_interval(subset, coach_values)
        return out, scored

    metrics, scored = measure(rows)
    metrics.update(
        {
            "swap_rows": sum(r["id"].startswith("js-") for r in rows),
            "settings": vars(settings),
            "judge": judge.name,
            "seconds_per_answer_p50": round(
                percentile([s["seconds"] for s in signals.values()], 50), 2
            ),
        }
    )
    if fresh:
        metrics["fresh"], _ = measure(fresh)
    report = {"suite": "judge", "split": split, "n": len(rows), "metrics": metrics}
    if split == "dev":
        report["tuning_grid"] = tune(rows, signals)
    if with_ragas:
        ragas = _ragas(cfg, rows, limit, progress, judge.passages)
        metrics["judges"]["ragas"] = ragas["metrics"]
        # The coach judge on exactly the rows ragas judged, so the two AUCs compare.
        same = ragas["subset"]
        values = {r["id"]: scored[r["id"]]["coach"][0] for r in same}
        metrics["judges"]["coach_on_ragas_rows"] = {
            **judge_metrics(same, {k: {"coach": scored[k]["coach"]} for k in values}, "coach",
                            threshold),
            "rows": len(same),
            "faithful_rows": sum(r["label"] == "faithful" for r in same),
            "auc_interval_95": auc_interval(same, values),
            "auc_minus_ragas_interval_95": paired_difference(same, values, ragas["values"]),
        }  # fmt: skip
        report["ragas_values"] = ragas["values"]
    report["rows"] = [
        {
            "id": r["id"],
            "label": r["label"],
            "category": r["category"],
            "coach": scored[r["id"]]["coach"][0],
            "support": scored[r["id"]]["support"][0],
            "llm": scored[r["id"]]["llm"][0],
            "llm_sentences": signals[r["id"]]["llm"],
        }
        for r in rows
    ]
    return finish(cfg, report, start)
