"""The collections eval: does the generic path (coach add, collection search) find answers in
documents nobody here shaped for it?

Two parts, each added through `coach.sources.add` into a throwaway COACH_HOME and searched with
the collection searcher, exactly as a user's material is:
- `handbook_generic`: the handbook's text file added like any user's file, the dedicated parser
  out of the loop, searched with the golden retrieval split's in-scope queries. A hit is a
  section overlapping the labelled handbook section most (the dedicated parser only labels the
  generic sections, after the fact). Reported beside the dedicated hybrid pipeline on the same
  queries, with a paired bootstrap interval of the hit@1 difference (target: within 2 points).
- `python_tutorial`: the Python 3.11 tutorial as Debian installs it (python3.11-doc), searched
  with evals/collections/python_tutorial.jsonl, questions written by a helper session that never
  saw the ingestion or search code. A hit is a section of the named file holding the row's quote
  (whitespace-normalised; its first or last 40 characters when the quote runs over a section
  boundary).

A third part searches the handbook and the tutorial as one ranking (coach/search/mixed.py) and
reports each side's hit@1 beside its own.

Not in `--suite all`: the tutorial is a system package the app itself does not need.
Leaves out: the reranker and a fitted scope for collections (neither exists yet), answers.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from coach.config import Config
from coach.errors import SetupError
from coach.evals.common import EVALS_DIR, finish, load_rows
from coach.evals.retrieval import rerank_gain
from coach.handbook import load_handbook
from coach.search import get_searcher
from coach.search.collections import CollectionSearcher, ensure_index
from coach.search.embed import default_embedder
from coach.search.mixed import HANDBOOK, MixedSearcher
from coach.sources import add, load_sections

TUTORIAL_DIR = Path("/usr/share/doc/python3.11/html/tutorial")
TUTORIAL_ROWS = EVALS_DIR / "collections" / "python_tutorial.jsonl"
K = 10
QUOTE_END_CHARS = 40


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _searcher(cfg: Config, name: str, paths: list[Path], say) -> CollectionSearcher:
    embedder = default_embedder()
    add(cfg, name, paths, progress=say)
    return CollectionSearcher([ensure_index(cfg, name, embedder, progress=say).index], embedder)


def _metrics(ranks: list[list[set[str]]], golds: list[set[str]]) -> dict:
    """hit@k and MRR over ranked sections, each a set of the gold ids it holds."""

    def first(rk: list[set[str]], gold: set[str]) -> int | None:
        return next((i for i, ids in enumerate(rk[:K], 1) if ids & gold), None)

    found = [first(rk, g) for rk, g in zip(ranks, golds, strict=True)]
    n = len(found)
    out = {f"hit@{k}": sum(1 for f in found if f and f <= k) / n for k in (1, 3, 5)}
    out["mrr@10"] = sum(1 / f for f in found if f) / n
    return {key: round(v, 4) for key, v in out.items()}


def handbook_labels(cfg: Config, sections) -> dict[str, set[str]]:
    """Generic section id -> the handbook sections (Q17, P3) it holds: the one whose lines it
    overlaps most, and any other with at least half of its lines inside it (a part's intro
    page sits inside the answer before it, where a plain-text reader cannot tell it apart)."""
    handbook = load_handbook(cfg.corpus_dir / "handbook.txt")
    records = (*handbook.questions, *handbook.parts)
    owner = {line: r.id for r in records for line in r.lines}
    labels = {}
    for s in sections:
        text = Path(s.path).read_text(encoding="utf-8")
        lines = range(text.count("\n", 0, s.start) + 1, text.count("\n", 0, s.end) + 2)
        votes = Counter(owner[n] for n in lines if n in owner)
        held = {r.id for r in records if sum(n in lines for n in r.lines) * 2 >= len(r.lines)}
        labels[s.id] = held | ({votes.most_common(1)[0][0]} if votes else set())
    return labels


def _handbook_generic(cfg: Config, home: Path, split: str, limit: int | None, say) -> dict:
    rows = [r for r in load_rows("retrieval/golden.jsonl", split) if r["in_scope"]]
    rows = rows[:limit] if limit else rows
    local = dataclasses.replace(cfg, home=home)
    source = cfg.corpus_dir / "handbook.txt"
    searcher = _searcher(local, "handbook-copy", [source], say)
    sections = load_sections(local, "handbook-copy")
    labels = handbook_labels(cfg, sections)
    dedicated = get_searcher(cfg)
    golds = [set(r["reference_context_ids"]) for r in rows]
    generic, special = [], []
    for r in rows:
        hits = searcher.search(r["user_input"], k=K).hits
        generic.append([labels[h.id.split(":", 1)[1]] for h in hits])
        hybrid = dedicated.search(r["user_input"], k=K, mode="hybrid").hits
        special.append([{h.id} for h in hybrid])
    pairs = [
        (bool(g[0] & gold), bool(d[0] & gold))
        for g, d, gold in zip(generic, special, golds, strict=True)
    ]
    return {
        "n": len(rows),
        "sections": len(sections),
        "question_like_sections": sum(s.question_like for s in sections),
        "generic": _metrics(generic, golds),
        "dedicated_hybrid": _metrics(special, golds),
        "generic_minus_dedicated_hit@1": rerank_gain(pairs),
        "misses@3": [
            {
                "id": r["id"],
                "query": r["user_input"],
                "want": r["reference_context_ids"],
                "got": [sorted(ids) for ids in g[:3]],
            }
            for r, g, gold in zip(rows, generic, golds, strict=True)
            if not any(ids & gold for ids in g[:3])
        ][:20],
    }


def _holds(section, quote: str) -> bool:
    text = _norm(section.text)
    q = _norm(quote)
    return q in text or q[:QUOTE_END_CHARS] in text or q[-QUOTE_END_CHARS:] in text


def _python_tutorial(cfg: Config, home: Path, split: str, limit: int | None, say) -> dict:
    if not TUTORIAL_DIR.is_dir():
        raise SetupError(
            f"The Python tutorial is not installed ({TUTORIAL_DIR} is missing). "
            "Fix: apt-get install python3.11-doc"
        )
    rows = load_rows("collections/python_tutorial.jsonl", split)
    rows = rows[:limit] if limit else rows
    local = dataclasses.replace(cfg, home=home)
    searcher = _searcher(local, "pytut", [TUTORIAL_DIR], say)
    sections = {s.id: s for s in load_sections(local, "pytut")}
    golds, ranks, per_file = [], [], Counter()
    unplaced = []
    for r in rows:
        gold = {
            sid
            for sid, s in sections.items()
            if Path(s.source).name == r["file"] and _holds(s, r["quote"])
        }
        if not gold:
            unplaced.append(r["id"])  # the quote is in no section: an ingestion defect
        hits = searcher.search(r["question"], k=K).hits
        ranks.append([{h.id.split(":", 1)[1]} for h in hits])
        golds.append(gold)
        per_file[r["file"]] += 1
    metrics = _metrics(ranks, golds)
    mixed_part = _mixed(local, rows, golds, split, limit)
    return {
        "mixed_with_handbook": mixed_part,
        "n": len(rows),
        "sections": len(sections),
        "files": dict(sorted(per_file.items())),
        "quotes_in_no_section": unplaced,
        **metrics,
        "misses@3": [
            {
                "id": r["id"],
                "question": r["question"],
                "want": f"{r['file']} / {r['heading']}",
                "got": [f"{sections[i].source} / {sections[i].title}" for (i,) in rk[:3]],
            }
            for r, rk, g in zip(rows, ranks, golds, strict=True)
            if not any(ids & g for ids in rk[:3])
        ],
    }


def _mixed(local: Config, rows: list[dict], golds: list[set[str]], split, limit) -> dict:
    """What one ranking over the handbook and the tutorial costs each side: hit@1 of the
    tutorial's questions and of the golden handbook questions, searched over both at once."""
    searcher = MixedSearcher(local, [HANDBOOK, "pytut"])
    tutorial = [
        {f"pytut:{i}" for i in gold} & {h.id for h in searcher.search(r["question"], k=1).hits}
        for r, gold in zip(rows, golds, strict=True)
    ]
    book = [r for r in load_rows("retrieval/golden.jsonl", split) if r["in_scope"]]
    book = book[:limit] if limit else book
    alone = get_searcher(local)
    both = [searcher.search(r["user_input"], k=1).hits[0].id for r in book]
    single = [alone.search(r["user_input"], k=1, mode="hybrid").hits[0].id for r in book]

    def rate(ids):
        return round(
            sum(i in r["reference_context_ids"] for i, r in zip(ids, book, strict=True))
            / len(book),
            4,
        )

    return {
        "python_tutorial_hit@1": round(sum(bool(t) for t in tutorial) / len(rows), 4),
        "handbook_n": len(book),
        "handbook_hit@1_mixed": rate(both),
        "handbook_hit@1_alone": rate(single),
        "handbook_queries_answered_from_the_tutorial": sum(":" in i for i in both),
    }


def run(
    cfg: Config,
    split: str = "test",
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    start = time.perf_counter()
    say = progress or (lambda _m: None)
    with tempfile.TemporaryDirectory(prefix="coach-collections-eval-") as tmp:
        say("==> collections eval: the handbook through the generic path")
        generic = _handbook_generic(cfg, Path(tmp) / "a", split, limit, say)
        say("==> collections eval: the Python tutorial")
        tutorial = _python_tutorial(cfg, Path(tmp) / "b", split, limit, say)
    metrics = {
        "handbook_generic_hit@1": generic["generic"]["hit@1"],
        "handbook_dedicated_hit@1": generic["dedicated_hybrid"]["hit@1"],
        "handbook_generic_hit@3": generic["generic"]["hit@3"],
        "python_tutorial_hit@1": tutorial["hit@1"],
        "python_tutorial_hit@3": tutorial["hit@3"],
        "mixed_python_tutorial_hit@1": tutorial["mixed_with_handbook"]["python_tutorial_hit@1"],
        "mixed_handbook_hit@1": tutorial["mixed_with_handbook"]["handbook_hit@1_mixed"],
    }
    report = {
        "suite": "collections",
        "split": split,
        "n": generic["n"] + tutorial["n"],
        "metrics": metrics,
        "handbook_generic": generic,
        "python_tutorial": tutorial,
    }
    return finish(cfg, report, start)
