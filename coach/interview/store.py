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

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from coach.errors import BadInput
from coach.guardrails import scrub_pii_kinds
from coach.interview import schedule
from coach.interview.refs import collection_of, normalize_ref
from coach.interview.schedule import ReviewState, iso, parse_time
from coach.interview.store_rows import (
    attempt_record,
    checked_score,
    dumps_json,
    now_utc,
    parse_export,
    portable,
    put_review,
    quality_for,
    review_state,
    row_exists,
    scrubbed,
    session_record,
    to_csv,
)
from coach.interview.store_schema import (
    ATTEMPT_COLUMNS,
    FORMAT,
    KINDS,
    MIGRATIONS,
    SCHEMA_VERSION,
    SESSION_COLUMNS,
    SQLITE_MAGIC,
    ProgressError,
    damaged_error,
    reset_database,
    sqlite_error,
)


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
                    raise damaged_error(self.path, "; ".join(problems[:3]))
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
                head = f.read(len(SQLITE_MAGIC))
        except OSError as exc:
            raise ProgressError(f"Cannot read the progress database {self.path}: {exc}.") from exc
        if head != SQLITE_MAGIC:
            raise damaged_error(self.path, "not an SQLite database")

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
            raise sqlite_error(exc, self.path, self.busy_timeout) from exc

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
        ids = [normalize_ref(q) for q in plan]
        session_id = str(uuid.uuid4())
        with self._write() as conn:
            conn.execute(
                f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, NULL, ?, ?, ?, ?, 0)",
                (session_id, iso(now_utc(now)), mode, part, count, json.dumps(ids)),
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
                (iso(now_utc(now)), session_id),
            )

    def get_session(self, session_id: str) -> dict[str, Any]:
        with self._read() as conn:
            return session_record(self._session_row(conn, session_id))

    def unfinished_sessions(self) -> list[dict[str, Any]]:
        """Sessions that can be resumed, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions WHERE finished_at IS NULL "
                "ORDER BY started_at DESC, rowid DESC"
            ).fetchall()
        return [session_record(dict(r)) for r in rows]

    @staticmethod
    def _session_row(conn: sqlite3.Connection, session_id: str) -> dict[str, Any]:
        row = conn.execute(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,)
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
        qid = normalize_ref(question)
        if kind not in KINDS:
            raise BadInput(f"unknown attempt kind {kind!r}: choose one of {', '.join(KINDS)}")
        if not isinstance(answer, str):
            raise BadInput("an answer must be text")
        if grade is not None and not isinstance(grade, Mapping):
            raise BadInput("a grade must be a JSON object")
        score = None
        if kind in ("graded", "follow_up") and grade is not None:
            score = checked_score(grade.get("score"), "grade['score']")
        if kind == "graded" and score is None:
            raise BadInput("a graded attempt needs a grade with a 'score' from 0 to 10")
        given = [] if grade is None else grade.get("flags", [])
        if not isinstance(given, list | tuple) or not all(isinstance(f, str) for f in given):
            raise BadInput("grade['flags'] must be a list of flag names")
        clean, found = scrub_pii_kinds(answer)
        flags = [*given, *(["pii"] if found else [])]
        grade_json = None if grade is None else dumps_json(scrubbed(grade), "the grade")
        when = now_utc(now)
        attempt_id = str(uuid.uuid4())
        with self._write() as conn:
            if session_id is not None:
                self._session_row(conn, session_id)
            if parent is not None and not row_exists(conn, "attempts", parent):
                raise BadInput(f"unknown parent attempt {parent!r}")
            conn.execute(
                f"INSERT INTO attempts ({ATTEMPT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                state = review_state(conn, qid) or ReviewState(qid)
                put_review(
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
            args.append(normalize_ref(question))
        if session_id is not None:
            where.append("session_id = ?")
            args.append(session_id)
        sql = f"SELECT {ATTEMPT_COLUMNS} FROM attempts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY created_at, rowid", args).fetchall()
        return [attempt_record(dict(r)) for r in rows]

    # ------------------------------------------------------------------ schedule and stats

    def review_states(self) -> dict[str, ReviewState]:
        with self._read() as conn:
            rows = conn.execute("SELECT state FROM reviews ORDER BY question").fetchall()
        states = [ReviewState.from_json(json.loads(r[0])) for r in rows]
        return {s.question: s for s in states}

    def due(self, now: datetime | None = None) -> list[ReviewState]:
        """Questions due for review at `now`, most overdue first."""
        return schedule.due_reviews(self.review_states(), now_utc(now))

    def stats(self, parts: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Per question: attempts (follow-ups apart), skips, last and best graded score; and
        per part (question -> part from the handbook unless `parts` is given)."""
        if parts is None:
            from coach.handbook import load_handbook

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
                {
                    "part": parts.get(qid) or collection_of(qid),
                    "attempts": 0,
                    "skipped": 0,
                    "revealed": 0,
                }
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
                f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY started_at, rowid"
            ).fetchall()
            attempts = conn.execute(
                f"SELECT {ATTEMPT_COLUMNS} FROM attempts ORDER BY created_at, rowid"
            ).fetchall()
            reviews = conn.execute("SELECT state FROM reviews ORDER BY question").fetchall()
        rows = [dict(r) for r in attempts]
        if fmt == "csv":
            return to_csv(rows)
        data = {
            "format": FORMAT,
            "version": SCHEMA_VERSION,
            "sessions": [portable(session_record(dict(r))) for r in sessions],
            "attempts": [portable(attempt_record(r)) for r in rows],
            "reviews": [json.loads(r[0]) for r in reviews],
        }
        return json.dumps(data, ensure_ascii=False, indent=1)

    def import_json(self, text: str) -> dict[str, int]:
        """Merge an export into this store; returns how many sessions, attempts and review
        states it added or changed. Idempotent: attempts and sessions are matched by id, and a
        question that gained attempts gets its schedule replayed from its whole history (so two
        merged histories give one schedule); other review states keep the more recent one."""
        sessions, attempts, reviews = parse_export(text)
        counts = {"sessions": 0, "attempts": 0, "reviews": 0}
        with self._write() as conn:
            # Rows may refer to sessions and parents later in the file: check at commit.
            conn.execute("PRAGMA defer_foreign_keys = ON")
            for s in sessions:
                cur = conn.execute(
                    f"INSERT OR IGNORE INTO sessions ({SESSION_COLUMNS}) "
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
                    f"INSERT OR IGNORE INTO attempts ({ATTEMPT_COLUMNS}) "
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
                counts["reviews"] += put_review(conn, schedule.replay(qid, events))
            never = datetime.min.replace(tzinfo=UTC)
            for state in reviews:
                if state.question in touched:
                    continue
                local = review_state(conn, state.question)
                if local is None or (state.last_reviewed or never) > (local.last_reviewed or never):
                    counts["reviews"] += put_review(conn, state)
        return counts
