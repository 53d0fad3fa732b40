"""Rows of the progress database as plain records: conversions, CSV, and the validation of an
imported export. Pure helpers for store.py; leaves out transactions and the schema.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from coach.errors import BadInput
from coach.guardrails import scrub_pii
from coach.interview import schedule
from coach.interview.refs import normalize_ref
from coach.interview.schedule import ReviewState, iso, parse_time
from coach.interview.store_schema import FORMAT, KINDS, SCHEMA_VERSION


def quality_for(kind: str, score: float | None) -> int:
    """SM-2 quality of an attempt: skipped and revealed answers are blackouts (0).

    >>> quality_for("skipped", None), quality_for("graded", 7.0)
    (0, 4)
    """
    if kind in ("skipped", "revealed") or score is None:
        return schedule.SKIP_QUALITY
    return schedule.quality_from_score(score)


def scrubbed(value: Any) -> Any:
    """A grade with every string PII-scrubbed (its evidence quotes the user's answer)."""
    if isinstance(value, str):
        return scrub_pii(value)
    if isinstance(value, Mapping):
        return {str(k): scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrubbed(v) for v in value]
    return value


def checked_score(value: object, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10:
        raise BadInput(f"{what} must be a number from 0 to 10, got {value!r}")
    return float(value)


def dumps_json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"{what} cannot be stored as JSON: {exc}") from exc


def now_utc(now: datetime | None) -> datetime:
    return schedule.aware(now).astimezone(UTC) if now is not None else datetime.now(UTC)


# ---------------------------------------------------------------------- rows


def row_exists(conn: sqlite3.Connection, table: str, row_id: str) -> bool:
    return conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)).fetchone() is not None


def review_state(conn: sqlite3.Connection, question: str) -> ReviewState | None:
    row = conn.execute("SELECT state FROM reviews WHERE question = ?", (question,)).fetchone()
    return None if row is None else ReviewState.from_json(json.loads(row[0]))


def put_review(conn: sqlite3.Connection, state: ReviewState) -> int:
    """Upsert a review state; 1 if the stored state changed."""
    text = json.dumps(state.to_json())
    cur = conn.execute(
        "INSERT INTO reviews (question, state) VALUES (?, ?) ON CONFLICT (question) "
        "DO UPDATE SET state = excluded.state WHERE state != excluded.state",
        (state.question, text),
    )
    return cur.rowcount


def session_record(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "started_at": parse_time(row["started_at"]),
        "finished_at": parse_time(row["finished_at"]),
        "plan": json.loads(row["plan"]),
    }


def attempt_record(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "grade": None if row["grade"] is None else json.loads(row["grade"]),
        "flags": json.loads(row["flags"]),
        "created_at": parse_time(row["created_at"]),
    }


def portable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in record.items()}


_CSV_COLUMNS = tuple(
    "id created_at session_id question kind score answer flags feedback parent_attempt".split()
)


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for row in rows:
        grade = json.loads(row["grade"]) if row["grade"] else {}
        feedback = grade.get("feedback", "") if isinstance(grade, dict) else ""
        values = {**row, "flags": ";".join(json.loads(row["flags"])), "feedback": feedback}
        writer.writerow(["" if values[c] is None else values[c] for c in _CSV_COLUMNS])
    return out.getvalue()


# ---------------------------------------------------------------------- import validation


def parse_export(text: str) -> tuple[list[tuple], list[tuple], list[ReviewState]]:
    """Validate an export; every problem is a BadInput that names the bad record."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"Not a coach progress export: the file is not JSON ({exc}).") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BadInput(f"Not a coach progress export: expected an object with format {FORMAT!r}.")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BadInput("The progress export has no valid 'version'.")
    if version > SCHEMA_VERSION:
        raise BadInput(
            f"The progress export is from a newer coach (v{version}; this one reads up to "
            f"v{SCHEMA_VERSION}): update the coach first."
        )
    for key in ("sessions", "attempts", "reviews"):
        if not isinstance(data.get(key), list):
            raise BadInput(f"The progress export needs a list of {key!r}.")
    try:
        sessions = [_session_in(s) for s in data["sessions"]]
        attempts = [_attempt_in(a) for a in data["attempts"]]
        reviews = [ReviewState.from_json(r) for r in data["reviews"]]
        reviews = [replace(r, question=normalize_ref(r.question)) for r in reviews]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"The progress export has a bad record: {exc}") from exc
    return sessions, attempts, reviews


def _text(record: Mapping, key: str, *, optional: bool = False) -> str | None:
    value = record.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        # Name the record by id only: its other fields may hold PII.
        raise ValueError(f"record {record.get('id')!r}: {key!r} must be a non-empty string")
    return value


def _session_in(s: object) -> tuple:
    if not isinstance(s, Mapping):
        raise ValueError("a session must be an object")
    plan = s.get("plan")
    if not isinstance(plan, list):
        raise ValueError(f"session {s.get('id')!r}: 'plan' must be a list of question ids")
    count, position = s.get("count"), s.get("position", 0)
    for name, value in (("count", count), ("position", position)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"session {s.get('id')!r}: {name!r} must be a non-negative integer")
    return (
        _text(s, "id"),
        iso(parse_time(_text(s, "started_at"), "started_at")),
        iso(parse_time(s.get("finished_at"), "finished_at")),
        _text(s, "mode"),
        _text(s, "part", optional=True),
        count,
        json.dumps([normalize_ref(q) for q in plan]),
        min(position, len(plan)),
    )


def _attempt_in(a: object) -> tuple:
    if not isinstance(a, Mapping):
        raise ValueError("an attempt must be an object")
    kind = a.get("kind")
    if kind not in KINDS:
        raise ValueError(f"attempt {a.get('id')!r}: kind must be one of {', '.join(KINDS)}")
    answer = a.get("answer")
    if not isinstance(answer, str):
        raise ValueError(f"attempt {a.get('id')!r}: 'answer' must be text")
    score = checked_score(a.get("score"), f"attempt {a.get('id')!r}: 'score'")
    if kind == "graded" and score is None:
        raise ValueError(f"attempt {a.get('id')!r}: a graded attempt needs a score")
    grade, flags = a.get("grade"), a.get("flags", [])
    if grade is not None and not isinstance(grade, dict):
        raise ValueError(f"attempt {a.get('id')!r}: 'grade' must be an object or null")
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise ValueError(f"attempt {a.get('id')!r}: 'flags' must be a list of strings")
    return (
        _text(a, "id"),
        _text(a, "session_id", optional=True),
        normalize_ref(a.get("question")),
        kind,
        scrub_pii(answer),  # an edited export must not smuggle PII past the store
        score,
        None if grade is None else dumps_json(scrubbed(grade), "a grade"),
        json.dumps(flags),
        iso(parse_time(_text(a, "created_at"), "created_at")),
        _text(a, "parent_attempt", optional=True),
    )
