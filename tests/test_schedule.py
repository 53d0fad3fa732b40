from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coach.interview import ReviewState, pick_next
from coach.interview.schedule import (
    MAX_INTERVAL_DAYS,
    MIN_EASINESS,
    due_reviews,
    quality_from_score,
    replay,
    review,
)

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def reviewed(question: str, qualities: list[int], start: datetime = T0) -> ReviewState:
    """The state after answering on each due date with the given qualities."""
    state, now = ReviewState(question), start
    for q in qualities:
        state = review(state, q, now)
        now = state.due
    return state


@pytest.mark.parametrize(
    "score, quality",
    [(0, 0), (0.9, 0), (1, 1), (2, 1), (3, 2), (4, 2), (4.99, 2), (5, 3), (6, 3), (7, 4)]
    + [(8, 4), (9, 5), (10, 5), (-3, 0), (12, 5)],
)
def test_quality_from_score(score, quality):
    assert quality_from_score(score) == quality


def test_quality_from_score_rejects_nan():
    with pytest.raises(ValueError):
        quality_from_score(float("nan"))


def test_sm2_intervals_by_hand():
    # Easiness after q=5 is 2.6, after q=4 unchanged, after q=3 down by 0.14.
    s1 = review(ReviewState("Q01"), 5, T0)
    assert (s1.interval_days, s1.repetitions, s1.due) == (1.0, 1, T0 + DAY)
    assert s1.easiness == pytest.approx(2.6)
    s2 = review(s1, 4, s1.due)
    assert (s2.interval_days, s2.repetitions) == (6.0, 2)
    assert s2.easiness == pytest.approx(2.6)
    s3 = review(s2, 3, s2.due)
    assert s3.interval_days == round(6 * 2.6) == 16  # the easiness before this answer
    assert s3.easiness == pytest.approx(2.46)
    assert s3.due == T0 + 23 * DAY


def test_a_failed_answer_restarts_the_item():
    good = reviewed("Q01", [5, 5, 5])
    assert good.repetitions == 3 and good.interval_days > 6
    failed = review(good, 1, good.due)
    assert (failed.repetitions, failed.interval_days) == (0, 1.0)
    assert failed.due == good.due + DAY
    assert failed.easiness == pytest.approx(good.easiness - 0.54)


def test_easiness_never_falls_below_the_floor():
    assert reviewed("Q01", [0] * 10).easiness == MIN_EASINESS


def test_intervals_are_capped():
    assert reviewed("Q01", [5] * 40).interval_days == MAX_INTERVAL_DAYS


def test_weak_answers_come_back_sooner():
    seen = reviewed("Q01", [4])  # answered once before, as most reviewed questions are
    weak = review(seen, quality_from_score(2), seen.due)
    strong = review(seen, quality_from_score(9), seen.due)
    assert weak.due < strong.due
    # And over a run of answers the gap widens: always weak vs always strong.
    assert reviewed("Q02", [1, 1, 1]).due < reviewed("Q03", [5, 5, 5]).due


def test_review_keeps_the_score_or_stands_quality_in_for_it():
    assert review(ReviewState("Q01"), 4, T0, score=7.5).last_score == 7.5
    assert review(ReviewState("Q01"), 0, T0).last_score == 0.0
    assert review(ReviewState("Q01"), 0, T0).last_reviewed == T0


@pytest.mark.parametrize("quality", [-1, 6, 2.5, True, "3"])
def test_review_rejects_bad_quality(quality):
    with pytest.raises(ValueError, match="quality"):
        review(ReviewState("Q01"), quality, T0)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        review(ReviewState("Q01"), 3, datetime(2026, 1, 1))


def test_json_round_trip():
    for state in (ReviewState("Q01"), reviewed("Q02", [5, 2, 4])):
        assert ReviewState.from_json(state.to_json()) == state


@pytest.mark.parametrize(
    "data, fragment",
    [
        ([], "JSON object"),
        ({"question": ""}, "question"),
        ({"question": "Q01", "colour": 1}, "unknown"),
        ({"question": "Q01", "easiness": 1.0}, "easiness"),
        ({"question": "Q01", "easiness": "2.5"}, "finite number"),
        ({"question": "Q01", "repetitions": -1}, "repetitions"),
        ({"question": "Q01", "due": "2026-01-01T00:00:00"}, "zone"),
        ({"question": "Q01", "due": "tomorrow"}, "ISO-8601"),
    ],
)
def test_from_json_rejects_bad_states(data, fragment):
    with pytest.raises(ValueError, match=fragment):
        ReviewState.from_json(data)


def test_due_reviews_most_overdue_first():
    states = {
        "Q01": reviewed("Q01", [5], start=T0),  # due T0+1d
        "Q02": reviewed("Q02", [5], start=T0 - 3 * DAY),  # due T0-2d
        "Q03": reviewed("Q03", [5, 5]),  # due T0+7d
        "Q04": ReviewState("Q04"),  # never reviewed: not "due"
    }
    now = T0 + 2 * DAY
    assert [s.question for s in due_reviews(states, now)] == ["Q02", "Q01"]
    assert [s.question for s in due_reviews(list(states.values()), now)] == ["Q02", "Q01"]
    assert due_reviews(states, T0 - 10 * DAY) == []


def test_pick_next_modes_by_hand():
    now = T0 + 2 * DAY
    states = {
        "Q01": review(ReviewState("Q01"), 5, T0, score=9.0),  # due T0+1d, strong
        "Q02": review(ReviewState("Q02"), 1, T0 - DAY, score=2.0),  # due T0, weak
        "Q03": reviewed("Q03", [5, 5]),  # not due until T0+7d, last score 10
        "Q04": review(ReviewState("Q04"), 3, T0 + DAY, score=5.0),  # due T0+2d, borderline
    }
    candidates = ["Q05", "Q04", "Q03", "Q02", "Q01", "Q06", "Q01"]
    assert pick_next(states, candidates, now) == ["Q02", "Q01", "Q04", "Q05", "Q06", "Q03"]
    assert pick_next(states, candidates, now, "new_first") == [
        "Q05",
        "Q06",
        "Q02",
        "Q01",
        "Q04",
        "Q03",
    ]
    # Known failures, then unseen (a borderline 5/10), then seen by score, weakest first.
    assert pick_next(states, candidates, now, "weakest") == [
        "Q02",
        "Q05",
        "Q06",
        "Q04",
        "Q01",
        "Q03",
    ]


def test_pick_next_breaks_ties_by_id_and_ignores_candidate_order():
    states = {q: review(ReviewState(q), 4, T0, score=7.0) for q in ("Q03", "Q01", "Q02")}
    for mode in ("due", "weakest", "new_first"):
        assert pick_next(states, ["Q03", "Q01", "Q02"], T0 + DAY, mode) == ["Q01", "Q02", "Q03"]
        assert pick_next(states, ["Q02", "Q03", "Q01"], T0, mode) == ["Q01", "Q02", "Q03"]


def test_pick_next_rejects_unknown_mode():
    with pytest.raises(ValueError, match="weakest"):
        pick_next({}, ["Q01"], T0, "hardest")  # type: ignore[arg-type]


def test_replay_equals_recording_one_by_one_in_any_input_order():
    answers = [(T0 + 3 * DAY, 2, 4.0), (T0, 5, 10.0), (T0 + DAY, 4, 8.0)]
    state = ReviewState("Q01")
    for when, quality, score in sorted(answers):
        state = review(state, quality, when, score=score)
    assert replay("Q01", answers) == state
    assert replay("Q01", []) == ReviewState("Q01")


# ------------------------------------------------------------------ properties

times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
states = st.builds(
    ReviewState,
    question=st.sampled_from(["Q01", "Q02", "Q03", "Q04"]),
    easiness=st.floats(MIN_EASINESS, 5.0),
    interval_days=st.floats(0, 400),
    repetitions=st.integers(0, 30),
    due=st.none() | times,
    last_score=st.none() | st.floats(0, 10),
)
qualities = st.integers(0, 5)


@given(st.lists(qualities, max_size=30), times)
def test_easiness_floor_and_non_negative_intervals(answers, start):
    state, now = ReviewState("Q01"), start
    for q in answers:
        state = review(state, q, now)
        assert state.easiness >= MIN_EASINESS
        assert state.interval_days >= 0
        assert state.due >= now
        now = state.due


@given(states, qualities, qualities, times)
def test_a_better_answer_is_never_due_sooner(state, q1, q2, now):
    low, high = sorted((q1, q2))
    assert review(state, high, now).due >= review(state, low, now).due
    assert review(state, high, now).easiness >= review(state, low, now).easiness


@given(st.dictionaries(st.sampled_from(["Q01", "Q02", "Q03", "Q04"]), states), times)
def test_pick_next_is_a_permutation_of_the_candidates(by_id, now):
    by_id = {q: replace(s, question=q) for q, s in by_id.items()}
    candidates = ["Q04", "Q02", "Q05", "Q01", "Q02", "Q03"]
    for mode in ("due", "weakest", "new_first"):
        order = pick_next(by_id, candidates, now, mode)
        assert sorted(order) == sorted(set(candidates))
        assert order == pick_next(by_id, list(reversed(candidates)), now, mode)


@given(states)
def test_json_round_trip_property(state):
    assert ReviewState.from_json(state.to_json()) == state
