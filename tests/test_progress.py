import csv
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coach.errors import BadInput, SetupError
from coach.interview import ProgressError, ProgressStore, ReviewState, reset_database
from coach.interview.schedule import replay, review
from coach.interview.store import MIGRATIONS, SCHEMA_VERSION, quality_for

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def grade(score: float, **extra) -> dict:
    return {"score": score, "feedback": f"scored {score}", "flags": [], **extra}


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "home" / "progress.db"


@pytest.fixture
def store(db):
    with ProgressStore(db) as s:
        yield s


def fill(store: ProgressStore) -> dict:
    """A small history: one session with a graded answer, a follow-up and a skip; one stray."""
    sid = store.start_session("due", "P1", 3, ["Q01", "q2", "3"], now=T0)
    a1 = store.record_attempt("Q01", "graded", "attention", grade(7), session_id=sid, now=T0)
    f1 = store.record_attempt("Q01", "follow_up", "more", grade(4), parent=a1, now=T0 + MIN)
    store.record_attempt("Q02", "skipped", "", None, session_id=sid, now=T0 + 2 * MIN)
    store.advance_session(sid, 2)
    store.record_attempt("Q17", "revealed", "", None, now=T0 + 3 * MIN)
    return {"session": sid, "graded": a1, "follow_up": f1}


def assert_schedule_matches_history(store: ProgressStore) -> None:
    """Each question's stored schedule is exactly its attempt history replayed."""
    history: dict[str, list] = {}
    for a in store.attempts():
        if a["kind"] != "follow_up":
            history.setdefault(a["question"], []).append(
                (a["created_at"], quality_for(a["kind"], a["score"]), a["score"])
            )
    assert store.review_states() == {q: replay(q, h) for q, h in history.items()}


def test_round_trip(store):
    ids = fill(store)
    session = store.get_session(ids["session"])
    assert session["plan"] == ["Q01", "Q02", "Q03"]
    assert (session["position"], session["part"], session["started_at"]) == (2, "P1", T0)
    attempts = store.attempts()
    assert [(a["question"], a["kind"], a["score"]) for a in attempts] == [
        ("Q01", "graded", 7.0),
        ("Q01", "follow_up", 4.0),
        ("Q02", "skipped", None),
        ("Q17", "revealed", None),
    ]
    assert attempts[0]["grade"] == grade(7) and attempts[0]["created_at"] == T0
    assert attempts[1]["parent_attempt"] == ids["graded"]
    assert [a["kind"] for a in store.attempts(session_id=ids["session"])] == ["graded", "skipped"]
    assert len(store.attempts(question="q1")) == 2

    states = store.review_states()
    assert sorted(states) == ["Q01", "Q02", "Q17"]  # the follow-up left Q01's schedule alone
    assert states["Q01"] == review(ReviewState("Q01"), 4, T0, score=7.0)
    assert states["Q02"] == review(ReviewState("Q02"), 0, T0 + 2 * MIN)
    assert states["Q02"].last_score == 0.0 and states["Q17"].repetitions == 0
    assert [s.question for s in store.due(T0 + timedelta(days=1, minutes=5))] == [
        "Q01",
        "Q02",
        "Q17",
    ]
    assert store.due(T0) == []


def test_sessions_resume_newest_first(store):
    old = store.start_session("due", None, 5, ["Q01"], now=T0)
    new = store.start_session("weakest", None, 5, ["Q02"], now=T0 + MIN)
    assert [s["id"] for s in store.unfinished_sessions()] == [new, old]
    store.finish_session(new, now=T0 + 2 * MIN)
    store.finish_session(new, now=T0 + 3 * MIN)
    assert store.get_session(new)["finished_at"] == T0 + 2 * MIN
    assert [s["id"] for s in store.unfinished_sessions()] == [old]


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda s: s.record_attempt("Q01", "guessed", "x", None), "unknown attempt kind"),
        (lambda s: s.record_attempt("Q01", "graded", "x", None), "needs a grade"),
        (lambda s: s.record_attempt("Q01", "graded", "x", {"score": 11}), "0 to 10"),
        (lambda s: s.record_attempt("Q99", "skipped", "", None), "unknown handbook id"),
        (lambda s: s.record_attempt("Q01", "skipped", "", None, session_id="nope"), "session"),
        (lambda s: s.record_attempt("Q01", "follow_up", "", None, parent="nope"), "parent"),
        (lambda s: s.record_attempt("Q01", "graded", "x", {"score": 1, "flags": "pii"}), "flag"),
        (lambda s: s.advance_session("nope", 1), "unknown session"),
        (lambda s: s.start_session("due", None, -1, []), "count"),
        (lambda s: s.export("xml"), "json or csv"),
    ],
)
def test_bad_calls_are_bad_input(store, call, fragment):
    with pytest.raises(BadInput, match=fragment):
        call(store)
    assert store.attempts() == []


def test_advance_stays_inside_the_plan(store):
    sid = store.start_session("due", None, 2, ["Q01", "Q02"])
    with pytest.raises(BadInput, match="outside the plan"):
        store.advance_session(sid, 3)


def test_restart_keeps_everything(db):
    with ProgressStore(db) as first:
        fill(first)
        before = first.export()
    with ProgressStore(db) as again:
        assert again.export() == before
        assert again.check() == ["ok"]
        assert again._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert again._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert again._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_pii_is_scrubbed_before_storing(db):
    answer = "Email me at jane.doe@example.com or +44 20 7946 0958; attention is O(n^2)."
    with ProgressStore(db) as store:
        store.record_attempt(
            "Q05",
            "graded",
            answer,
            grade(6, points=[{"point": "p", "verdict": "covered", "evidence": answer}]),
        )
        (attempt,) = store.attempts()
    assert attempt["answer"] == "Email me at [EMAIL] or [PHONE]; attention is O(n^2)."
    assert "jane.doe" not in json.dumps(attempt["grade"])
    assert attempt["flags"] == ["pii"]
    # The whole number, not a 4-digit piece of it: ids and timestamps are random digits too.
    raw = db.read_bytes()
    assert b"jane.doe" not in raw and b"7946 0958" not in raw and b"79460958" not in raw


def test_export_then_import_into_a_fresh_db_is_equal(tmp_path, store):
    fill(store)
    text = store.export()
    data = json.loads(text)
    assert (data["format"], data["version"]) == ("coach-progress", SCHEMA_VERSION)
    assert [len(data[k]) for k in ("sessions", "attempts", "reviews")] == [1, 4, 3]
    with ProgressStore(tmp_path / "other.db") as other:
        assert other.import_json(text) == {"sessions": 1, "attempts": 4, "reviews": 3}
        assert other.export() == text
        assert other.review_states() == store.review_states()
        # Importing the same file again adds nothing.
        assert other.import_json(text) == {"sessions": 0, "attempts": 0, "reviews": 0}
        assert other.export() == text
    # And importing into the source store itself is a no-op too.
    assert store.import_json(text) == {"sessions": 0, "attempts": 0, "reviews": 0}


def test_import_merges_two_histories_into_one_schedule(tmp_path):
    with ProgressStore(tmp_path / "a.db") as a, ProgressStore(tmp_path / "b.db") as b:
        a.record_attempt("Q01", "graded", "first", grade(9), now=T0)
        b.record_attempt("Q01", "graded", "second", grade(2), now=T0 + timedelta(days=2))
        b.record_attempt("Q02", "skipped", "", None, now=T0)
        a.start_session("due", None, 1, ["Q03"], now=T0)
        counts = a.import_json(b.export())
        assert counts == {"sessions": 0, "attempts": 2, "reviews": 2}
        expected = replay("Q01", [(T0, 5, 9.0), (T0 + timedelta(days=2), 1, 2.0)])
        assert a.review_states()["Q01"] == expected
        assert len(a.attempts()) == 3
        b.import_json(a.export())  # both machines now agree
        assert sorted(b.attempts(), key=str) == sorted(a.attempts(), key=str)
        assert b.review_states() == a.review_states()


def test_import_keeps_the_newer_review_state_without_attempts(store):
    store.record_attempt("Q01", "graded", "x", grade(8), now=T0)
    newer = review(ReviewState("Q01"), 1, T0 + timedelta(days=3), score=2.0)
    older = review(ReviewState("Q01"), 5, T0 - timedelta(days=3), score=10.0)
    export = {"format": "coach-progress", "version": 1, "sessions": [], "attempts": []}
    text = json.dumps({**export, "reviews": [older.to_json()]})
    assert store.import_json(text)["reviews"] == 0
    text = json.dumps({**export, "reviews": [newer.to_json()]})
    assert store.import_json(text)["reviews"] == 1
    assert store.review_states()["Q01"] == newer


def _export_with(**changes) -> str:
    base = {"format": "coach-progress", "version": 2, "sessions": [], "attempts": [], "reviews": []}
    attempt = {
        "id": "a1",
        "session_id": None,
        "question": "Q01",
        "kind": "graded",
        "answer": "x",
        "score": 5,
        "grade": None,
        "flags": [],
        "created_at": "2026-01-01T00:00:00+00:00",
        "parent_attempt": None,
    }
    base["attempts"] = [{**attempt, **changes.pop("attempt", {})}]
    return json.dumps({**base, **changes})


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("not json {", "not JSON"),
        ("[1, 2]", "format"),
        (json.dumps({"format": "other"}), "format"),
        (_export_with(version=99), "newer coach"),
        (_export_with(version="2"), "version"),
        (_export_with(sessions={}), "list of 'sessions'"),
        (_export_with(attempt={"kind": "guessed"}), "kind"),
        (_export_with(attempt={"score": None}), "needs a score"),
        (_export_with(attempt={"score": 42}), "0 to 10"),
        (_export_with(attempt={"created_at": "2026-01-01 00:00"}), "zone"),
        (_export_with(attempt={"question": "Q77"}), "unknown handbook id"),
        (_export_with(attempt={"session_id": "missing"}), "does not exist"),
        (_export_with(reviews=[{"question": "Q01", "easiness": 0.5}]), "easiness"),
    ],
)
def test_import_rejects_garbage_and_changes_nothing(store, text, fragment):
    fill(store)
    before = store.export()
    with pytest.raises(BadInput, match=fragment):
        store.import_json(text)
    assert store.export() == before


def test_import_scrubs_pii_from_edited_exports(store):
    store.import_json(_export_with(attempt={"answer": "reach me: bob@example.com"}))
    assert store.attempts()[0]["answer"] == "reach me: [EMAIL]"


def test_csv_export_has_a_header_and_one_row_per_attempt(store):
    fill(store)
    store.record_attempt("Q03", "graded", 'a, "quoted"\nsecond line', grade(5))
    rows = list(csv.DictReader(io.StringIO(store.export("csv"))))
    assert len(rows) == len(store.attempts()) == 5
    assert list(rows[0])[:5] == ["id", "created_at", "session_id", "question", "kind"]
    assert rows[0]["score"] == "7.0" and rows[0]["feedback"] == "scored 7"
    assert rows[-1]["answer"] == 'a, "quoted"\nsecond line'


def test_stats_per_question_and_part(store):
    fill(store)
    store.record_attempt("Q01", "graded", "better", grade(9), now=T0 + 10 * MIN)
    store.record_attempt("Q01", "graded", "worse", grade(3), now=T0 + 11 * MIN)
    stats = store.stats()
    assert (stats["sessions"], stats["finished_sessions"], stats["attempts"]) == (1, 0, 6)
    q1 = stats["questions"]["Q01"]
    assert q1 == {
        "part": "P1",
        "attempts": 3,
        "skipped": 0,
        "revealed": 0,
        "follow_ups": 1,
        "last_score": 3.0,
        "best_score": 9.0,
    }
    assert stats["questions"]["Q02"]["skipped"] == 1
    assert stats["parts"]["P1"] == {"questions": 2, "attempts": 4, "mean_last_score": 3.0}
    assert store.stats(parts={"Q01": "X"})["parts"] == {
        "X": {"questions": 1, "attempts": 3, "mean_last_score": 3.0}
    }


def test_threads_share_one_store(store):
    def work(n: int) -> None:
        for i in range(10):
            store.record_attempt(f"Q{n + 1:02d}", "graded", f"t{n} {i}", grade(i))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.attempts()) == 40
    assert_schedule_matches_history(store)


def test_reset_moves_the_database_aside(db):
    with ProgressStore(db) as store:
        fill(store)
    original = db.read_bytes()
    with ProgressStore(db) as store:
        backup = store.reset(now=T0)
        assert backup == db.with_name("progress.db.20260301T100000Z.bak")
        assert backup.read_bytes() == original
        assert store.attempts() == [] and store.review_states() == {}
        store.record_attempt("Q01", "skipped", "", None)
        # A second reset in the same second gets its own name; nothing is overwritten.
        second = store.reset(now=T0)
        assert second != backup and second.exists() and backup.read_bytes() == original
    with ProgressStore(backup) as old:
        assert len(old.attempts()) == 4
    assert reset_database(db.with_name("nothing-here.db")) is None


def test_reset_without_backup_deletes_as_asked(db):
    with ProgressStore(db) as store:
        fill(store)
        assert store.reset(backup=False) is None
        assert store.attempts() == []
    assert [p.name for p in db.parent.iterdir()] == ["progress.db"]


def _corrupt(db: Path, how: str) -> None:
    data = bytearray(db.read_bytes())
    rng = random.Random(7)
    start = 0 if how == "everything" else 4096  # keep the header and page 1 (the schema)
    data[start:] = rng.randbytes(len(data) - start)
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["everything", "after the header"])
def test_a_damaged_file_is_reported_and_left_alone(db, how):
    with ProgressStore(db) as store:
        fill(store)
        for i in range(30):  # enough rows for several pages
            store.record_attempt("Q04", "graded", "x" * 500 + str(i), grade(5))
    _corrupt(db, how)
    damaged = db.read_bytes()
    with pytest.raises(ProgressError) as info:
        ProgressStore(db)
    message = info.value.message
    assert "damaged" in message and "not modified" in message
    assert "coach progress reset" in message and "backup" in message
    assert info.value.code == "progress_damaged" and info.value.exit_code == 3
    assert db.read_bytes() == damaged
    # The documented fix works on the file that cannot be opened.
    backup = reset_database(db)
    assert backup.read_bytes() == damaged
    with ProgressStore(db) as fresh:
        assert fresh.attempts() == []


def test_a_locked_database_is_a_clear_error(db):
    with ProgressStore(db) as store:
        store.record_attempt("Q01", "graded", "x", grade(5))
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with ProgressStore(db, busy_timeout=0.2) as slow:  # WAL: reading still works
            assert len(slow.attempts()) == 1
            started = time.monotonic()
            with pytest.raises(ProgressError, match="busy .locked by another coach process") as e:
                slow.record_attempt("Q01", "graded", "y", grade(6))
            assert time.monotonic() - started < 3
            assert e.value.code == "progress_busy" and "try again" in e.value.message
            holder.execute("ROLLBACK")
            slow.record_attempt("Q01", "graded", "y", grade(6))
            assert len(slow.attempts()) == 2
    finally:
        holder.close()


def test_a_database_locked_while_opening_is_a_clear_error(db):
    with ProgressStore(db) as store:
        store.record_attempt("Q01", "graded", "x", grade(5))
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("PRAGMA journal_mode = DELETE")  # a rollback journal locks out readers
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("UPDATE attempts SET answer = 'z'")
        with pytest.raises(ProgressError, match="busy"):
            ProgressStore(db, busy_timeout=0.2)
    finally:
        holder.close()


def test_progress_errors_are_setup_errors():
    assert issubclass(ProgressError, SetupError)
    assert ProgressError("x").exit_code == 3


def test_migrates_an_empty_file(db):
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    with ProgressStore(db) as store:
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        store.record_attempt("Q01", "skipped", "", None)


def _indexes(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    return {r[0] for r in rows if not r[0].startswith("sqlite_autoindex")}


def test_migrates_version_1_to_the_latest(db):
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    for sql in MIGRATIONS[0]:
        conn.execute(sql)
    conn.execute(
        "INSERT INTO attempts (id, question, kind, answer, score, created_at) "
        "VALUES ('old', 'Q09', 'graded', 'from v1', 6, '2025-12-01T00:00:00.000000+00:00')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    assert _indexes(db) == set()
    with ProgressStore(db) as store:
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        (old,) = store.attempts()
        assert (old["id"], old["answer"], old["flags"]) == ("old", "from v1", [])
        store.record_attempt("Q09", "graded", "new", grade(8))
    assert _indexes(db) == {"attempts_by_question", "attempts_by_session", "sessions_unfinished"}


def test_a_newer_or_foreign_database_is_refused(db):
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ProgressError, match="newer coach"):
        ProgressStore(db)
    other = db.with_name("notes.db")
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x)")
    with pytest.raises(ProgressError, match="not a coach progress database"):
        ProgressStore(other)


def test_killed_writer_loses_no_committed_attempt(tmp_path, db):
    """SIGKILL a process mid-write, three times: the file stays sound and every attempt the
    writer reported as committed is there."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    printed: list[str] = []
    for round_ in range(3):
        out = tmp_path / f"ids-{round_}.txt"
        with out.open("w") as stdout, (tmp_path / f"err-{round_}.txt").open("w") as stderr:
            proc = subprocess.Popen(
                [sys.executable, str(REPO / "tests" / "progress_writer.py"), str(db)],
                stdout=stdout,
                stderr=stderr,
                env=env,
                cwd=REPO,
            )
            deadline = time.monotonic() + 10
            while out.stat().st_size == 0 and proc.poll() is None:
                assert time.monotonic() < deadline, "the writer never wrote"
                time.sleep(0.02)
            time.sleep(0.4 + 0.3 * round_)  # kill at a different point each round
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL, (tmp_path / f"err-{round_}.txt").read_text()
        lines = out.read_text().split("\n")
        ids = lines[:-1]  # the last piece is empty or a line cut short by the kill
        assert ids, "no attempt was committed before the kill"
        printed += ids
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        with ProgressStore(db) as store:
            stored = {a["id"] for a in store.attempts()}
            # At most one attempt per kill committed without being printed yet.
            assert set(printed) <= stored
            assert len(stored) - len(printed) <= round_ + 1
            assert_schedule_matches_history(store)  # attempt and schedule commit together
