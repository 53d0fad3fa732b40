"""The one decontamination check: does a training or tuning text overlap an eval text?

Two texts overlap when their MiniLM cosine is >= 0.8, or when the Jaccard similarity of their
word 5-grams is >= 0.5, the words of each text sorted first, so a copy with its words reordered
counts too. Every training and tuning file (`TRAINING_FILES`) is checked against every eval file
(`eval_texts`) by one test (tests/test_decontamination.py); the scripts that write training data
drop what overlaps, and `python -m coach.evals.overlap` reports (or with --drop removes) it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from coach.config import CORPUS_DIR, REPO_ROOT

JACCARD_MIN = 0.5
COSINE_MIN = 0.8
EVALS_DIR = REPO_ROOT / "evals"
# Training and tuning data: the texts a model or a threshold was fitted on.
TRAINING_FILES = (
    CORPUS_DIR / "synthetic_questions.jsonl",
    CORPUS_DIR / "scope_negatives.jsonl",
    CORPUS_DIR / "guardrails" / "harmful_train.jsonl",
    CORPUS_DIR / "reranker_queries.jsonl",
    CORPUS_DIR / "reranker_labels.jsonl",
)
# The fields of an eval row that hold text someone wrote (ids and labels are not text).
EVAL_FIELDS = ("user_input", "text", "answer")
_QUESTION_ID = re.compile(r"^[QP]\d{1,2}$")


def ngrams(text: str, n: int = 5) -> set[tuple[str, ...]]:
    """Word n-grams of the text's words, lower-cased and sorted (so word order does not matter);
    texts shorter than n give one n-gram of all words.

    >>> ngrams("top-p sampling what is", n=3) == ngrams("What is top-p sampling", n=3)
    True
    >>> ngrams("LoRA rank", n=5)
    {('lora', 'rank')}
    """
    words = sorted(re.findall(r"[\w'-]+", text.lower()))
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set, b: set) -> float:
    """
    >>> jaccard({1, 2}, {2, 3})
    0.3333333333333333
    """
    return len(a & b) / len(a | b) if a | b else 0.0


def overlapping(
    candidates: Sequence[str],
    references: Sequence[str],
    cand_vecs: np.ndarray | None = None,
    ref_vecs: np.ndarray | None = None,
) -> list[dict]:
    """For each candidate that overlaps a reference: the pair and why."""
    ref_grams = [ngrams(r) for r in references]
    sims = cand_vecs @ ref_vecs.T if cand_vecs is not None and ref_vecs is not None else None
    found = []
    for i, cand in enumerate(candidates):
        grams = ngrams(cand)
        best = int(np.argmax(sims[i])) if sims is not None and len(references) else None
        for j in ([best] if best is not None else []) + list(range(len(references))):
            jac = jaccard(grams, ref_grams[j])
            cos = float(sims[i, j]) if sims is not None else 0.0
            if jac >= JACCARD_MIN or cos >= COSINE_MIN:
                found.append(
                    {
                        "candidate": cand,
                        "reference": references[j],
                        "jaccard": round(jac, 3),
                        "cosine": round(cos, 3),
                    }
                )
                break
    return found


def eval_texts(root: Path = EVALS_DIR) -> list[str]:
    """Every written text of every eval set (reports excluded), deduplicated."""
    out: dict[str, None] = {}
    for path in sorted(root.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            for field in EVAL_FIELDS:
                value = row.get(field)
                if isinstance(value, str) and value.strip() and not _QUESTION_ID.match(value):
                    out[value] = None
    return list(out)


def training_texts(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]  # fmt: skip


def check(embed, files: Sequence[Path] = TRAINING_FILES) -> dict[str, list[dict]]:
    """Overlaps per training file against every eval text."""
    refs = eval_texts()
    ref_vecs = embed(refs)
    report = {}
    for path in files:
        texts = training_texts(path)
        if texts:
            report[str(path.relative_to(REPO_ROOT))] = overlapping(
                texts, refs, embed(texts), ref_vecs
            )
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drop", action="store_true", help="remove overlapping training rows")
    args = ap.parse_args(argv)
    from coach.search import default_embedder

    report = check(default_embedder().embed)
    for rel, found in report.items():
        print(f"{rel}: {len(found)} overlapping rows")
        for f in found[:10]:
            print(f"  {f['cosine']:.3f} / {f['jaccard']:.2f}  {f['candidate'][:70]!r} ~ "
                  f"{f['reference'][:70]!r}")  # fmt: skip
        if args.drop and found:
            path = REPO_ROOT / rel
            bad = {f["candidate"] for f in found}
            lines = path.read_text(encoding="utf-8").splitlines()
            kept = [ln for ln in lines if ln.strip() and json.loads(ln)["text"] not in bad]
            path.write_text("\n".join(kept) + "\n", encoding="utf-8")
            print(f"  dropped {len(lines) - len(kept)} rows from {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
