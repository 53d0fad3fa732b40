"""Spaced repetition: when should each handbook question come back? SM-2, as pure functions.

Each question has a `ReviewState`; an answer's 0-10 grade becomes an SM-2 quality 0-5
(`quality_from_score`), and `review` returns the next state. `pick_next` orders a session's
candidate questions. Nothing here reads the clock or touches storage: `now` is always a
parameter (a timezone-aware datetime), so the progress store and the tests decide what time it is.

The SM-2 variant is the common one (Wikipedia's pseudo-code): the easiness factor is updated on
every review, failed answers restart the repetition count, and intervals grow 1 day, 6 days,
then x easiness. Leaves out: Anki-style sub-day learning steps and fuzzing of due dates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

# The SM-2 constants: new items start at 2.5; easiness never drops below 1.3, or items come back
# so often that they crowd out everything else ("ease hell").
START_EASINESS = 2.5
MIN_EASINESS = 1.3
# Quality 3 is the lowest passing grade in SM-2; anything below restarts the item.
PASS_QUALITY = 3
# A skip ("I don't know") or a revealed model answer: total blackout.
SKIP_QUALITY = 0
# Longest gap between reviews. Without a cap, 20 perfect answers push the due date past the
# year 9999 (intervals grow geometrically); a year is already longer than any interview prep.
MAX_INTERVAL_DAYS = 365.0
# Where an unseen question sits in "weakest" order: a borderline grade (quality 3 = 5/10).
UNSEEN_SCORE = 5.0

Mode = Literal["due", "weakest", "new_first"]
MODES: tuple[str, ...] = ("due", "weakest", "new_first")


@dataclass(frozen=True)
class ReviewState:
    """One question's schedule. A question never reviewed has `due` None."""

    question: str
    easiness: float = START_EASINESS
    interval_days: float = 0
    repetitions: int = 0
    due: datetime | None = None
    last_score: float | None = None
    last_reviewed: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; datetimes become UTC ISO-8601 strings.

        >>> ReviewState("Q01").to_json()["easiness"]
        2.5
        """
        return {
            "question": self.question,
            "easiness": self.easiness,
            "interval_days": self.interval_days,
            "repetitions": self.repetitions,
            "due": iso(self.due),
            "last_score": self.last_score,
            "last_reviewed": iso(self.last_reviewed),
        }

    @classmethod
    def from_json(cls, data: object) -> ReviewState:
        """The inverse of `to_json`; raises ValueError naming the bad field on malformed input."""
        if not isinstance(data, Mapping):
            raise ValueError("a review state must be a JSON object")
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            raise ValueError(f"unknown review state field(s): {', '.join(unknown)}")
        question = data.get("question")
        if not isinstance(question, str) or not question:
            raise ValueError("a review state needs a 'question' id")
        easiness = _number(data, "easiness", START_EASINESS)
        interval = _number(data, "interval_days", 0.0)
        repetitions = data.get("repetitions", 0)
        if isinstance(repetitions, bool) or not isinstance(repetitions, int) or repetitions < 0:
            raise ValueError(f"{question}: 'repetitions' must be a non-negative integer")
        if easiness < MIN_EASINESS or interval < 0:
            raise ValueError(f"{question}: easiness must be >= {MIN_EASINESS}, interval >= 0")
        last_score = data.get("last_score")
        if last_score is not None:
            last_score = _number(data, "last_score", 0.0)
        return cls(
            question=question,
            easiness=easiness,
            interval_days=interval,
            repetitions=repetitions,
            due=parse_time(data.get("due"), "due"),
            last_score=last_score,
            last_reviewed=parse_time(data.get("last_reviewed"), "last_reviewed"),
        )


_FIELDS = {
    "question",
    "easiness",
    "interval_days",
    "repetitions",
    "due",
    "last_score",
    "last_reviewed",
}


def _number(data: Mapping, key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"review state field {key!r} must be a finite number")
    return float(value)


def iso(when: datetime | None) -> str | None:
    """The one timestamp format the coach stores: UTC, ISO-8601, always with microseconds.

    A fixed width keeps string order equal to time order (SQLite sorts these as text).

    >>> iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    '2026-01-02T03:04:05.000000+00:00'
    """
    return None if when is None else aware(when).astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: object, what: str = "timestamp") -> datetime | None:
    """Parse a stored timestamp (None stays None); raise ValueError if it is not ISO-8601+zone."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ValueError(f"{what} must be an ISO-8601 time with a zone, got {text!r}")
    return when.astimezone(UTC)


def aware(when: datetime) -> datetime:
    """Refuse naive datetimes: comparing them with stored UTC times would fail or mislead."""
    if when.tzinfo is None:
        raise ValueError("times must be timezone-aware (use datetime.now(UTC))")
    return when


def quality_from_score(score: float) -> int:
    """Map a 0-10 grade to SM-2 quality 0-5: half the score, rounded half up, clamped.

    So 0 -> 0, 1-2 -> 1, 3-4 -> 2 (all failing), 5-6 -> 3, 7-8 -> 4, 9-10 -> 5. A skip or a
    revealed answer is not a score: callers use SKIP_QUALITY (0) for those.

    >>> [quality_from_score(s) for s in (0, 2, 4, 4.9, 5, 7.5, 9, 10)]
    [0, 1, 2, 2, 3, 4, 5, 5]
    """
    if not math.isfinite(score):
        raise ValueError(f"a score must be a finite number, got {score!r}")
    return int(min(5, max(0, math.floor(score / 2 + 0.5))))


def review(
    state: ReviewState, quality: int, now: datetime, *, score: float | None = None
) -> ReviewState:
    """The state after one answer of SM-2 `quality` (0-5) at time `now`.

    `score` (0-10) is kept as `last_score`; without one, the quality stands in for it (x2).
    A failing answer (quality < 3) restarts the item: due again in 1 day. Passing answers are
    due after 1 day, then 6 days, then the previous interval x easiness (whole days, at most a
    year).

    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> s = review(ReviewState("Q01"), 5, t)
    >>> s.interval_days, s.repetitions, round(s.easiness, 2), s.due.day
    (1.0, 1, 2.6, 2)
    >>> review(s, 4, s.due).interval_days
    6.0
    """
    if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 5:
        raise ValueError(f"SM-2 quality must be an integer 0-5, got {quality!r}")
    now = aware(now).astimezone(UTC)
    if quality >= PASS_QUALITY:
        if state.repetitions == 0:
            interval = 1.0
        elif state.repetitions == 1:
            interval = 6.0
        else:
            # Uses the easiness *before* this answer, as SM-2 does; never below the 1-day retry
            # interval, so a pass is never due sooner than a fail from the same state.
            grown = float(round(state.interval_days * state.easiness))
            interval = min(MAX_INTERVAL_DAYS, max(1.0, grown))
        repetitions = state.repetitions + 1
    else:
        interval, repetitions = 1.0, 0
    miss = 5 - quality
    easiness = max(MIN_EASINESS, state.easiness + 0.1 - miss * (0.08 + miss * 0.02))
    return replace(
        state,
        easiness=easiness,
        interval_days=interval,
        repetitions=repetitions,
        due=now + timedelta(days=interval),
        last_score=float(score) if score is not None else float(quality * 2),
        last_reviewed=now,
    )


def replay(question: str, answers: Iterable[tuple[datetime, int, float | None]]) -> ReviewState:
    """The state after a history of (time, quality, score) answers, applied in time order.

    Recording answers one by one and replaying them gives the same state, which is how two
    merged histories get one schedule.

    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> replay("Q01", [(t + timedelta(days=1), 4, 8.0), (t, 5, 10.0)]).interval_days
    6.0
    """
    state = ReviewState(question)
    for when, quality, score in sorted(answers, key=lambda a: aware(a[0])):
        state = review(state, quality, when, score=score)
    return state


def _states(states: Iterable[ReviewState] | Mapping[str, ReviewState]) -> list[ReviewState]:
    return list(states.values() if isinstance(states, Mapping) else states)


def _due_key(state: ReviewState) -> tuple:
    # Most overdue first; among equally due questions the weaker answer first; then by id.
    score = state.last_score if state.last_score is not None else UNSEEN_SCORE
    return (state.due, score, state.question)


def due_reviews(
    states: Iterable[ReviewState] | Mapping[str, ReviewState], now: datetime
) -> list[ReviewState]:
    """The reviewed questions due at `now`, most overdue first (ties: lower score, then id).

    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> a, b = review(ReviewState("Q02"), 1, t), review(ReviewState("Q01"), 5, t)
    >>> [s.question for s in due_reviews([a, b], t + timedelta(days=1))]
    ['Q02', 'Q01']
    >>> due_reviews([a, b], t)
    []
    """
    now = aware(now)
    due = [s for s in _states(states) if s.due is not None and s.due <= now]
    return sorted(due, key=_due_key)


def pick_next(
    states: Mapping[str, ReviewState],
    candidates: Iterable[str],
    now: datetime,
    mode: Mode = "due",
) -> list[str]:
    """Order `candidates` (question ids; duplicates dropped) for practice at `now`.

    - "due" (the default): due reviews, most overdue first; then unseen questions by id; then
      questions not yet due, soonest first.
    - "new_first": unseen questions first, then as "due".
    - "weakest": lowest last score first. An unseen question counts as a borderline 5/10: after
      the questions answered badly (a known weakness is stronger evidence than no evidence),
      before any question answered passably. Ties: earlier due date, then id.

    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> st = {"Q01": review(ReviewState("Q01"), 5, t), "Q02": review(ReviewState("Q02"), 1, t)}
    >>> pick_next(st, ["Q03", "Q02", "Q01"], t + timedelta(days=1))
    ['Q02', 'Q01', 'Q03']
    >>> pick_next(st, ["Q03", "Q02", "Q01"], t, mode="weakest")
    ['Q02', 'Q03', 'Q01']
    >>> pick_next(st, ["Q03", "Q02", "Q01"], t, mode="new_first")
    ['Q03', 'Q02', 'Q01']
    """
    if mode not in MODES:
        raise ValueError(f"unknown practice mode {mode!r}: choose one of {', '.join(MODES)}")
    now = aware(now)
    ids = list(dict.fromkeys(candidates))
    seen = {q: states[q] for q in ids if q in states and states[q].due is not None}
    unseen = sorted(q for q in ids if q not in seen)
    if mode == "weakest":
        far = datetime.max.replace(tzinfo=UTC)

        def weak_key(q: str) -> tuple:
            state = seen.get(q)
            if state is None:
                return (UNSEEN_SCORE, 0, far, q)
            score = state.last_score if state.last_score is not None else UNSEEN_SCORE
            return (score, 1, state.due, q)

        return sorted(ids, key=weak_key)
    due = [s.question for s in due_reviews(seen.values(), now)]
    later = [s.question for s in sorted(seen.values(), key=_due_key) if s.due > now]
    return unseen + due + later if mode == "new_first" else due + unseen + later
