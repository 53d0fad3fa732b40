"""The synthetic questions written for each handbook chunk (doc2query rows).

`corpus/synthetic_questions.jsonl` is committed data, written by the local LLM
(`python -m coach.search.training.synth`) and decontaminated against every eval set once, when
it is written (a test keeps it that way): serving code reads it as it is and never opens an eval
file. The index embeds each question as an extra dense row of its chunk and adds its words to
the chunk's BM25 text, so the words people ask with find the chunk.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from coach.config import CORPUS_DIR

SYNTHETIC_PATH = CORPUS_DIR / "synthetic_questions.jsonl"


def load_synthetic(path: Path = SYNTHETIC_PATH) -> list[dict]:
    """The rows: {"chunk_id", "question_id", "style", "seed", "text"}; [] if there is no file."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def synthetic_by_chunk(rows: list[dict]) -> dict[str, list[str]]:
    """Question texts grouped by chunk id, in file order.

    >>> synthetic_by_chunk([{"chunk_id": "Q01#0", "text": "a"}, {"chunk_id": "Q01#0", "text": "b"}])
    {'Q01#0': ['a', 'b']}
    """
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row["chunk_id"], []).append(row["text"])
    return out


def synthetic_hash(path: Path = SYNTHETIC_PATH) -> str | None:
    """The file's sha256 (recorded in the index manifest), or None when there is none."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
