"""The progress database's schema, its migrations, and what a damaged or locked file becomes.

`MIGRATIONS` upgrade the schema one version at a time (`PRAGMA user_version`); `ProgressError`
says what to do about a damaged or locked file, and `reset_database` moves a file aside
unopened. Leaves out: reading and writing rows (store.py).
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from coach.errors import BadInput, CoachError, SetupError

FORMAT = "coach-progress"
KINDS = ("graded", "skipped", "revealed", "follow_up")
SQLITE_MAGIC = b"SQLite format 3\x00"

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

ATTEMPT_COLUMNS = (
    "id, session_id, question, kind, answer, score, grade, flags, created_at, parent_attempt"
)
SESSION_COLUMNS = "id, started_at, finished_at, mode, part, count, plan, position"


class ProgressError(SetupError):
    """The progress database cannot be used: damaged, locked, too new, or not writable."""

    code = "progress"


def damaged_error(path: Path, detail: str) -> ProgressError:
    return ProgressError(
        f"The progress database {path} is damaged ({detail}). It was not modified. Run "
        "`coach progress reset` to move it aside (it is kept as a backup) and start a fresh one.",
        code="progress_damaged",
    )


def sqlite_error(exc: sqlite3.Error, path: Path, timeout: float) -> CoachError:
    """The user-facing error for an SQLite failure."""
    primary = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return ProgressError(
            f"The progress database {path} is busy (locked by another coach process?) for "
            f"more than {timeout:g} s. Finish or close the other coach session, then try again.",
            code="progress_busy",
        )
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return damaged_error(path, str(exc))
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
