"""The progress store: interview sessions, answer attempts and the review schedule, in SQLite.

One file (`Config.progress_db`) holds three tables: `sessions` (a mock interview's plan and
position, so it can be resumed), `attempts` (every answer, skip, revealed answer and follow-up,
PII-scrubbed here so that no caller can forget), and `reviews` (each question's SM-2 state,
see coach.interview.schedule). Recording an attempt and updating its schedule is one transaction.

Durability choices: WAL journal (readers never block the writer, and a killed process loses
nothing that was committed), `synchronous=FULL` (each commit is fsynced, so it also survives a
power cut; an attempt is written once per answer, after seconds of grading, so the few ms are
free), and `BEGIN IMMEDIATE` for every write (takes the write lock up front, waiting up to
`busy_timeout`, instead of failing half-way through a read-then-write). The schema is versioned
in `PRAGMA user_version` and upgraded by the ordered `MIGRATIONS`.

A damaged or locked file becomes a `ProgressError` that says what to do; a damaged file is
never modified: `reset_database` (what `coach progress reset` calls) moves it aside.
Leaves out: syncing between machines (export and import JSON instead).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from coach.errors import BadInput, CoachError, SetupError
from coach.guardrails.pii import scrub_pii, scrub_pii_kinds
from coach.handbook.parse import normalize_id
from coach.interview import schedule
from coach.interview.schedule import ReviewState, iso, parse_time

FORMAT = "coach-progress"
KINDS = ("graded", "skipped", "revealed", "follow_up")
_MAGIC = b"SQLite format 3\x00"

# Each step upgrades the schema by one version; never edit a released step, append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # v1: the three tables.
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            mode TEXT NOT NULL,
            part TEXT,
            count INTEGER NOT NULL,
            plan TEXT NOT NULL,
            position INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE attempts (
            id TEXT PRIMARY KEY,
            session_id TEXT REFERENCES sessions (id),
            question TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('graded', 'skipped', 'revealed', 'follow_up')),
            answer TEXT NOT NULL,
            score REAL,
            grade TEXT,
            flags TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            parent_attempt TEXT REFERENCES attempts (id)
        )""",
        "CREATE TABLE reviews (question TEXT PRIMARY KEY, state TEXT NOT NULL)",
    ),
    (  # v2: per-question history and per-session lookups without a table scan.
        "CREATE INDEX attempts_by_question ON attempts (question, created_at)",
        "CREATE INDEX attempts_by_session ON attempts (session_id, created_at)",
        "CREATE INDEX sessions_unfinished ON sessions (finished_at, started_at)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_ATTEMPT_COLUMNS = (
    "id, session_id, question, kind, answer, score, grade, flags, created_at, parent_attempt"
)
_SESSION_COLUMNS = "id, started_at, finished_at, mode, part, count, plan, position"


class ProgressError(SetupError):
    """The progress database cannot be used: damaged, locked, too new, or not writable."""

    code = "progress"


def _damaged(path: Path, detail: str) -> ProgressError:
    return ProgressError(
        f"The progress database {path} is damaged ({detail}). It was not modified. Run "
        "`coach progress reset` to move it aside (it is kept as a backup) and start a fresh one.",
        code="progress_damaged",
    )


def _error(exc: sqlite3.Error, path: Path, timeout: float) -> CoachError:
    """The user-facing error for an SQLite failure."""
    primary = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return ProgressError(
            f"The progress database {path} is busy (locked by another coach process?) for "
            f"more than {timeout:g} s. Finish or close the other coach session, then try again.",
            code="progress_busy",
        )
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return _damaged(path, str(exc))
    if isinstance(exc, sqlite3.IntegrityError):
        return BadInput(
            f"The progress data is inconsistent ({exc}): an attempt refers to a session or "
            "parent attempt that does not exist."
        )
    return ProgressError(
        f"Cannot use the progress database {path}: {exc}. Check free disk space and that the "
        "file and its folder are writable."
    )


def reset_database(path: Path, *, backup: bool = True, now: datetime | None = None) -> Path | None:
    """Move the database (and its -wal/-shm files) aside to `<name>.<UTC time>.bak`.

    Works on a damaged file, which cannot be opened. Returns the backup path, or None when
    there was nothing to move or `backup` is False (then the files are deleted, as asked).
    Close every store on `path` first.
    """
    path = Path(path)
    files = [(path, ""), (Path(f"{path}-wal"), "-wal"), (Path(f"{path}-shm"), "-shm")]
    existing = [(src, suffix) for src, suffix in files if src.exists()]
    if not existing:
        return None
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.{stamp}.bak")
    n = 1
    while any(Path(f"{target}{suffix}").exists() for _, suffix in files):
        n += 1
        target = path.with_name(f"{path.name}.{stamp}-{n}.bak")
    try:
        for src, suffix in existing:
            if backup:
                os.replace(src, f"{target}{suffix}")
            else:
                src.unlink()
    except OSError as exc:
        raise ProgressError(
            f"Cannot move {path} aside: {exc}. Check the folder's permissions."
        ) from exc
    return target if backup else None


def quality_for(kind: str, score: float | None) -> int:
    """SM-2 quality of an attempt: skipped and revealed answers are blackouts (0).

    >>> quality_for("skipped", None), quality_for("graded", 7.0)
    (0, 4)
    """
    if kind in ("skipped", "revealed") or score is None:
        return schedule.SKIP_QUALITY
    return schedule.quality_from_score(score)


def _scrubbed(value: Any) -> Any:
    """A grade with every string PII-scrubbed (its evidence quotes the user's answer)."""
    if isinstance(value, str):
        return scrub_pii(value)
    if isinstance(value, Mapping):
        return {str(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v) for v in value]
    return value


def _score(value: object, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10:
        raise BadInput(f"{what} must be a number from 0 to 10, got {value!r}")
    return float(value)


def _dumps(value: Any, what: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"{what} cannot be stored as JSON: {exc}") from exc


def _now(now: datetime | None) -> datetime:
    return schedule.aware(now).astimezone(UTC) if now is not None else datetime.now(UTC)


class ProgressStore:
    """One SQLite connection, shared by threads under a lock (a Gradio server calls from many)."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0):
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._conn = self._open()

    # ------------------------------------------------------------------ connection

    def _open(self) -> sqlite3.Connection:
        self._check_header()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProgressError(f"Cannot create the folder for {self.path}: {exc}.") from exc
        with self._translated():
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,  # transactions are explicit: see _write
                check_same_thread=False,
            )
        conn.row_factory = sqlite3.Row
        self._conn = conn
        try:
            with self._translated():
                # Read-only checks first, so a damaged file is reported before any write.
                problems = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
                if problems != ["ok"]:
                    raise _damaged(self.path, "; ".join(problems[:3]))
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_header(self) -> None:
        """Random bytes over the header: say so without handing the file to SQLite at all."""
        try:
            if not self.path.exists() or self.path.stat().st_size == 0:
                return
            with self.path.open("rb") as f:
                head = f.read(len(_MAGIC))
        except OSError as exc:
            raise ProgressError(f"Cannot read the progress database {self.path}: {exc}.") from exc
        if head != _MAGIC:
            raise _damaged(self.path, "not an SQLite database")

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        with self._write() as conn:
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ProgressError(
                    f"The progress database {self.path} was written by a newer coach (schema "
                    f"v{version}; this one knows v{SCHEMA_VERSION}). Update the coach, or run "
                    "`coach progress reset` to move it aside and start fresh."
                )
            if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise ProgressError(
                    f"{self.path} is an SQLite database but not a coach progress database. "
                    "Move it away or point COACH_HOME elsewhere."
                )
            for step in MIGRATIONS[version:]:
                for sql in step:
                    conn.execute(sql)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise  # a bug in the caller (e.g. a closed store), not the user's problem
        except sqlite3.Error as exc:
            raise _error(exc, self.path, self.busy_timeout) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; it holds the write lock from its first statement."""
        with self._lock, self._translated():
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several SELECTs see one consistent snapshot."""
        with self._lock, self._translated():
            conn = self._conn
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ProgressStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self) -> list[str]:
        """The full `PRAGMA integrity_check` (['ok'] when healthy), for `coach doctor`."""
        with self._read() as conn:
            return [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]

    def reset(self, *, backup: bool = True, now: datetime | None = None) -> Path | None:
        """Move this database aside (see `reset_database`) and continue with a fresh one."""
        with self._lock:
            self._conn.close()
            try:
                return reset_database(self.path, backup=backup, now=now)
            finally:
                self._conn = self._open()

    # ------------------------------------------------------------------ sessions

    def start_session(
        self,
        mode: str,
        part: str | None,
        count: int,
        plan: list[str],
        now: datetime | None = None,
    ) -> str:
        """Create an interview session over `plan` (question ids, asked in order)."""
        if not isinstance(mode, str) or not mode:
            raise BadInput("a session needs a mode")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise BadInput(f"a session's count must be a non-negative integer, got {count!r}")
        ids = [normalize_id(q) for q in plan]
        session_id = str(uuid.uuid4())
        with self._write() as conn:
            conn.execute(
                f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES (?, ?, NULL, ?, ?, ?, ?, 0)",
                (session_id, iso(_now(now)), mode, part, count, json.dumps(ids)),
            )
        return session_id

    def advance_session(self, session_id: str, position: int) -> None:
        """Remember that the first `position` questions of the plan are done."""
        with self._write() as conn:
            plan = json.loads(self._session_row(conn, session_id)["plan"])
            if isinstance(position, bool) or not isinstance(position, int):
                raise BadInput(f"a session position must be an integer, got {position!r}")
            if not 0 <= position <= len(plan):
                raise BadInput(f"position {position} is outside the plan (0..{len(plan)})")
            conn.execute("UPDATE sessions SET position = ? WHERE id = ?", (position, session_id))

    def finish_session(self, session_id: str, now: datetime | None = None) -> None:
        """Mark a session finished (finishing it again keeps the first time)."""
        with self._write() as conn:
            self._session_row(conn, session_id)
            conn.execute(
                "UPDATE sessions SET finished_at = coalesce(finished_at, ?) WHERE id = ?",
                (iso(_now(now)), session_id),
            )

    def get_session(self, session_id: str) -> dict[str, Any]:
        with self._read() as conn:
            return _session(self._session_row(conn, session_id))

    def unfinished_sessions(self) -> list[dict[str, Any]]:
        """Sessions that can be resumed, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE finished_at IS NULL "
                "ORDER BY started_at DESC, rowid DESC"
            ).fetchall()
        return [_session(dict(r)) for r in rows]

    @staticmethod
    def _session_row(conn: sqlite3.Connection, session_id: str) -> dict[str, Any]:
        row = conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        if row is None:
            raise BadInput(f"unknown session {session_id!r}: list them with `coach progress`")
        return dict(row)

    # ------------------------------------------------------------------ attempts

    def record_attempt(
        self,
        question: str,
        kind: str,
        answer: str,
        grade: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        parent: str | None = None,
        now: datetime | None = None,
    ) -> str:
        """Store one attempt (answer scrubbed of PII) and update the question's schedule.

        `kind`: "graded" (needs `grade["score"]`, 0-10), "skipped" and "revealed" (both count
        as SM-2 quality 0), or "follow_up" (kept in the history, leaves the schedule alone).
        Flags are the grade's flags, plus "pii" when the answer had some scrubbed out.
        """
        qid = normalize_id(question)
        if kind not in KINDS:
            raise BadInput(f"unknown attempt kind {kind!r}: choose one of {', '.join(KINDS)}")
        if not isinstance(answer, str):
            raise BadInput("an answer must be text")
        if grade is not None and not isinstance(grade, Mapping):
            raise BadInput("a grade must be a JSON object")
        score = None
        if kind in ("graded", "follow_up") and grade is not None:
            score = _score(grade.get("score"), "grade['score']")
        if kind == "graded" and score is None:
            raise BadInput("a graded attempt needs a grade with a 'score' from 0 to 10")
        given = [] if grade is None else grade.get("flags", [])
        if not isinstance(given, list | tuple) or not all(isinstance(f, str) for f in given):
            raise BadInput("grade['flags'] must be a list of flag names")
        clean, found = scrub_pii_kinds(answer)
        flags = [*given, *(["pii"] if found else [])]
        grade_json = None if grade is None else _dumps(_scrubbed(grade), "the grade")
        when = _now(now)
        attempt_id = str(uuid.uuid4())
        with self._write() as conn:
            if session_id is not None:
                self._session_row(conn, session_id)
            if parent is not None and not _exists(conn, "attempts", parent):
                raise BadInput(f"unknown parent attempt {parent!r}")
            conn.execute(
                f"INSERT INTO attempts ({_ATTEMPT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    attempt_id,
                    session_id,
                    qid,
                    kind,
                    clean,
                    score,
                    grade_json,
                    json.dumps(list(dict.fromkeys(flags))),
                    iso(when),
                    parent,
                ),
            )
            if kind != "follow_up":
                state = _review_state(conn, qid) or ReviewState(qid)
                _put_review(
                    conn, schedule.review(state, quality_for(kind, score), when, score=score)
                )
        return attempt_id

    def attempts(
        self, question: str | None = None, session_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Attempts, oldest first, optionally only one question's or one session's."""
        where, args = [], []
        if question is not None:
            where.append("question = ?")
            args.append(normalize_id(question))
        if session_id is not None:
            where.append("session_id = ?")
            args.append(session_id)
        sql = f"SELECT {_ATTEMPT_COLUMNS} FROM attempts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY created_at, rowid", args).fetchall()
        return [_attempt(dict(r)) for r in rows]

    # ------------------------------------------------------------------ schedule and stats

    def review_states(self) -> dict[str, ReviewState]:
        with self._read() as conn:
            rows = conn.execute("SELECT state FROM reviews ORDER BY question").fetchall()
        states = [ReviewState.from_json(json.loads(r[0])) for r in rows]
        return {s.question: s for s in states}

    def due(self, now: datetime | None = None) -> list[ReviewState]:
        """Questions due for review at `now`, most overdue first."""
        return schedule.due_reviews(self.review_states(), _now(now))

    def stats(self, parts: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Per question: attempts (follow-ups apart), skips, last and best graded score; and
        per part (question -> part from the handbook unless `parts` is given)."""
        if parts is None:
            from coach.handbook.parse import load_handbook

            parts = {q.id: q.part for q in load_handbook().questions}
        with self._read() as conn:
            rows = conn.execute(
                "SELECT question, kind, score FROM attempts ORDER BY created_at, rowid"
            ).fetchall()
            n_sessions, n_finished = conn.execute(
                "SELECT count(*), count(finished_at) FROM sessions"
            ).fetchone()
        questions: dict[str, dict[str, Any]] = {}
        for qid, kind, score in rows:
            q = questions.setdefault(
                qid,
                {"part": parts.get(qid), "attempts": 0, "skipped": 0, "revealed": 0}
                | {"follow_ups": 0, "last_score": None, "best_score": None},
            )
            if kind == "follow_up":
                q["follow_ups"] += 1
                continue
            q["attempts"] += 1
            if kind in ("skipped", "revealed"):
                q[kind] += 1
            elif score is not None:
                q["last_score"] = score
                q["best_score"] = score if q["best_score"] is None else max(q["best_score"], score)
        by_part: dict[str, dict[str, Any]] = {}
        for q in questions.values():
            if q["part"] is None:
                continue
            p = by_part.setdefault(q["part"], {"questions": 0, "attempts": 0, "_scores": []})
            p["questions"] += 1
            p["attempts"] += q["attempts"]
            if q["last_score"] is not None:
                p["_scores"].append(q["last_score"])
        for p in by_part.values():
            scores = p.pop("_scores")
            p["mean_last_score"] = round(sum(scores) / len(scores), 2) if scores else None
        return {
            "sessions": n_sessions,
            "finished_sessions": n_finished,
            "attempts": len(rows),
            "questions": dict(sorted(questions.items())),
            "parts": dict(sorted(by_part.items())),
        }

    # ------------------------------------------------------------------ export and import

    def export(self, fmt: str = "json") -> str:
        """Everything as JSON (importable), or the attempts as CSV (one row each, for sheets)."""
        if fmt not in ("json", "csv"):
            raise BadInput(f"unknown export format {fmt!r}: choose json or csv")
        with self._read() as conn:
            sessions = conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions ORDER BY started_at, rowid"
            ).fetchall()
            attempts = conn.execute(
                f"SELECT {_ATTEMPT_COLUMNS} FROM attempts ORDER BY created_at, rowid"
            ).fetchall()
            reviews = conn.execute("SELECT state FROM reviews ORDER BY question").fetchall()
        rows = [dict(r) for r in attempts]
        if fmt == "csv":
            return _csv(rows)
        data = {
            "format": FORMAT,
            "version": SCHEMA_VERSION,
            "sessions": [_portable(_session(dict(r))) for r in sessions],
            "attempts": [_portable(_attempt(r)) for r in rows],
            "reviews": [json.loads(r[0]) for r in reviews],
        }
        return json.dumps(data, ensure_ascii=False, indent=1)

    def import_json(self, text: str) -> dict[str, int]:
        """Merge an export into this store; returns how many sessions, attempts and review
        states it added or changed. Idempotent: attempts and sessions are matched by id, and a
        question that gained attempts gets its schedule replayed from its whole history (so two
        merged histories give one schedule); other review states keep the more recent one."""
        sessions, attempts, reviews = _parse_export(text)
        counts = {"sessions": 0, "attempts": 0, "reviews": 0}
        with self._write() as conn:
            # Rows may refer to sessions and parents later in the file: check at commit.
            conn.execute("PRAGMA defer_foreign_keys = ON")
            for s in sessions:
                cur = conn.execute(
                    f"INSERT OR IGNORE INTO sessions ({_SESSION_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    s,
                )
                if cur.rowcount:
                    counts["sessions"] += 1
                else:  # known session: keep the further position and the finish time
                    conn.execute(
                        "UPDATE sessions SET finished_at = coalesce(finished_at, ?), "
                        "position = max(position, ?) WHERE id = ?",
                        (s[2], s[7], s[0]),
                    )
            touched: set[str] = set()
            for a in attempts:
                cur = conn.execute(
                    f"INSERT OR IGNORE INTO attempts ({_ATTEMPT_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    a,
                )
                counts["attempts"] += cur.rowcount
                if cur.rowcount and a[3] != "follow_up":
                    touched.add(a[2])
            for qid in sorted(touched):
                history = conn.execute(
                    "SELECT created_at, kind, score FROM attempts "
                    "WHERE question = ? AND kind != 'follow_up' ORDER BY created_at, rowid",
                    (qid,),
                ).fetchall()
                events = [(parse_time(t), quality_for(k, s), s) for t, k, s in history]
                counts["reviews"] += _put_review(conn, schedule.replay(qid, events))
            never = datetime.min.replace(tzinfo=UTC)
            for state in reviews:
                if state.question in touched:
                    continue
                local = _review_state(conn, state.question)
                if local is None or (state.last_reviewed or never) > (local.last_reviewed or never):
                    counts["reviews"] += _put_review(conn, state)
        return counts


# ---------------------------------------------------------------------- rows


def _exists(conn: sqlite3.Connection, table: str, row_id: str) -> bool:
    return conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)).fetchone() is not None


def _review_state(conn: sqlite3.Connection, question: str) -> ReviewState | None:
    row = conn.execute("SELECT state FROM reviews WHERE question = ?", (question,)).fetchone()
    return None if row is None else ReviewState.from_json(json.loads(row[0]))


def _put_review(conn: sqlite3.Connection, state: ReviewState) -> int:
    """Upsert a review state; 1 if the stored state changed."""
    text = json.dumps(state.to_json())
    cur = conn.execute(
        "INSERT INTO reviews (question, state) VALUES (?, ?) ON CONFLICT (question) "
        "DO UPDATE SET state = excluded.state WHERE state != excluded.state",
        (state.question, text),
    )
    return cur.rowcount


def _session(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "started_at": parse_time(row["started_at"]),
        "finished_at": parse_time(row["finished_at"]),
        "plan": json.loads(row["plan"]),
    }


def _attempt(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "grade": None if row["grade"] is None else json.loads(row["grade"]),
        "flags": json.loads(row["flags"]),
        "created_at": parse_time(row["created_at"]),
    }


def _portable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in record.items()}


_CSV_COLUMNS = tuple(
    "id created_at session_id question kind score answer flags feedback parent_attempt".split()
)


def _csv(rows: list[dict[str, Any]]) -> str:
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


def _parse_export(text: str) -> tuple[list[tuple], list[tuple], list[ReviewState]]:
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
        reviews = [replace(r, question=normalize_id(r.question)) for r in reviews]
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
        json.dumps([normalize_id(q) for q in plan]),
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
    score = _score(a.get("score"), f"attempt {a.get('id')!r}: 'score'")
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
        normalize_id(a.get("question")),
        kind,
        scrub_pii(answer),  # an edited export must not smuggle PII past the store
        score,
        None if grade is None else _dumps(_scrubbed(grade), "a grade"),
        json.dumps(flags),
        iso(parse_time(_text(a, "created_at"), "created_at")),
        _text(a, "parent_attempt", optional=True),
    )
