"""Grading rubrics: the key points a strong answer to each handbook question must contain.

`corpus/rubrics.json` is hand-corrected product content: `python -m coach.interview.rubric_draft`
proposes extractive candidates from the handbook, and a person rewrites them into 3-6 checkable
points per question. Each point carries a weight (a question's weights sum to 1), the exact
handbook passage that supports it (`source`), keywords an answer covering it would likely use,
and the follow-up question to ask when a candidate misses it.

This module only loads and checks the file's shape; tests/test_rubrics.py also checks every
source against the handbook text. Leaves out: grading itself.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from coach.config import CORPUS_DIR
from coach.errors import SetupError
from coach.handbook import QUESTION_COUNT, Question

RUBRICS_PATH = CORPUS_DIR / "rubrics.json"
RUBRICS_VERSION = 1
MIN_POINTS, MAX_POINTS = 3, 6
WEIGHT_TOLERANCE = 1e-6
QUESTION_IDS = tuple(f"Q{n:02d}" for n in range(1, QUESTION_COUNT + 1))
_POINT_FIELDS = ("id", "point", "weight", "source", "keywords", "follow_up")


@dataclass(frozen=True)
class RubricPoint:
    id: str  # "Q17.2": question id, then the point's 1-based position
    point: str  # what a strong answer must contain, in interviewer language
    weight: float  # share of the question's score; a rubric's weights sum to 1
    source: str  # exact handbook passage supporting the point (whitespace-normalised)
    keywords: tuple[str, ...]  # lower-case terms an answer covering the point would likely use
    follow_up: str  # the interviewer's question when the point is missed


@dataclass(frozen=True)
class Rubric:
    question: str  # "Q17"
    points: tuple[RubricPoint, ...]


def normalize_space(text: str) -> str:
    """Collapse runs of whitespace, as source strings are compared.

    >>> normalize_space(" a\\n\\n b\\tc ")
    'a b c'
    """
    return " ".join(text.split())


def section_text(question: Question) -> str:
    """The text a rubric source must be a substring of: the question sentence, the answer body
    (paragraphs, diagram labels and tables as markdown rows) and the tip, whitespace-normalised.
    """
    return normalize_space(f"{question.question}\n\n{question.body}\n\n{question.tip}")


def load_rubrics(path: str | Path | None = None) -> dict[str, Rubric]:
    """Rubrics by question id, all of Q01..Q50. The default file is read once per process."""
    rubrics = _load_default() if path is None else _load(Path(path))
    return dict(rubrics)  # a copy: callers cannot change the cached mapping


@lru_cache(maxsize=1)
def _load_default() -> dict[str, Rubric]:
    return _load(RUBRICS_PATH)


def _load(path: Path) -> dict[str, Rubric]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SetupError(
            f"{path} is missing: it is part of the repository, restore it (git checkout -- corpus)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SetupError(
            f"{path} is not a readable rubrics file ({exc}); restore it from the repository"
        ) from exc
    try:
        return parse_rubrics(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise SetupError(
            f"{path} is not a valid rubrics file: {exc}. Fix it (see coach/interview/rubrics.py "
            "for the format) or restore it from the repository"
        ) from exc


def parse_rubrics(data: object) -> dict[str, Rubric]:
    """Build and check rubrics from the file's JSON; raise ValueError/TypeError/KeyError.

    >>> point = {"id": "Q01.1", "point": "p", "weight": 1.0, "source": "s",
    ...          "keywords": ["k"], "follow_up": "f?"}
    >>> parse_rubrics({"version": 1, "rubrics": {"Q01": {"question": "Q01",
    ...     "points": [point] * 3}}})
    Traceback (most recent call last):
    ...
    ValueError: Q01: point ids must be Q01.1..Q01.3 in order
    """
    if not isinstance(data, dict) or data.get("version") != RUBRICS_VERSION:
        raise ValueError(f"expected a JSON object with version {RUBRICS_VERSION}")
    entries = data["rubrics"]
    if not isinstance(entries, dict):
        raise TypeError("'rubrics' must map question ids to rubrics")
    unknown = sorted(set(entries) - set(QUESTION_IDS))
    if unknown:
        raise ValueError(f"unknown question ids {unknown}")
    rubrics = {qid: parse_rubric(qid, entries[qid]) for qid in QUESTION_IDS if qid in entries}
    missing = [qid for qid in QUESTION_IDS if qid not in rubrics]
    if missing:
        raise ValueError(f"no rubric for {', '.join(missing)}")
    return rubrics


def parse_rubric(qid: str, entry: dict) -> Rubric:
    """One rubric checked: 3-6 points with ids QID.1..QID.n in order, weights summing to 1."""
    if entry["question"] != qid:
        raise ValueError(f"{qid}: its 'question' field says {entry['question']!r}")
    raw_points = entry["points"]
    if not isinstance(raw_points, list) or not MIN_POINTS <= len(raw_points) <= MAX_POINTS:
        raise ValueError(f"{qid}: needs a list of {MIN_POINTS}-{MAX_POINTS} points")
    points = tuple(_point(qid, raw) for raw in raw_points)
    if [p.id for p in points] != [f"{qid}.{n}" for n in range(1, len(points) + 1)]:
        raise ValueError(f"{qid}: point ids must be {qid}.1..{qid}.{len(points)} in order")
    total = math.fsum(p.weight for p in points)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise ValueError(f"{qid}: weights sum to {total}, not 1")
    return Rubric(question=qid, points=points)


def _point(qid: str, raw: dict) -> RubricPoint:
    missing = [name for name in _POINT_FIELDS if name not in raw]
    if missing:
        raise KeyError(f"{qid}: a point lacks {missing}")
    texts = {name: raw[name] for name in ("id", "point", "source", "follow_up")}
    if not all(isinstance(value, str) and value.strip() for value in texts.values()):
        raise TypeError(f"{qid}: id, point, source and follow_up must be non-empty strings")
    weight, keywords = raw["weight"], raw["keywords"]
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
        raise ValueError(f"{raw['id']}: weight must be a positive number")
    if not (
        isinstance(keywords, list)
        and keywords
        and all(isinstance(k, str) and k.strip() and k == k.lower() for k in keywords)
    ):
        raise ValueError(f"{raw['id']}: keywords must be a non-empty list of lower-case strings")
    return RubricPoint(
        id=raw["id"],
        point=raw["point"],
        weight=float(weight),
        source=raw["source"],
        keywords=tuple(keywords),
        follow_up=raw["follow_up"],
    )
