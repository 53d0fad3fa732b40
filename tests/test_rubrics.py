"""Grading rubrics (corpus/rubrics.json) against the handbook, the loader, and the draft tool."""

import json
import math
import re
import subprocess
import sys

import pytest

from coach.errors import SetupError
from coach.handbook import load_handbook
from coach.interview import Rubric, RubricPoint, load_rubrics, rubric_draft, rubrics

QUESTION_IDS = [f"Q{n:02d}" for n in range(1, 51)]
RAW = json.loads(rubrics.RUBRICS_PATH.read_text(encoding="utf-8"))


def normalised(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def section_texts() -> dict[str, str]:
    """Built here from the parsed records, not with coach.interview.rubrics.section_text, so the
    test does not trust the code it checks: question, body (paragraphs, diagram labels, tables as
    markdown), each table's markdown again, and the tip."""
    texts = {}
    for q in load_handbook().questions:
        parts = [q.question, q.body, *(t.to_markdown() for t in q.tables), q.tip]
        texts[q.id] = normalised("\n\n".join(parts))
    return texts


def all_points():
    return [point for qid in QUESTION_IDS for point in RAW["rubrics"][qid]["points"]]


# --------------------------------------------------------------------------- the content


def test_file_header():
    assert RAW["version"] == 1
    assert RAW["generated_by"].startswith("python -m coach.interview.rubric_draft")


def test_every_question_has_a_rubric_and_nothing_else():
    assert sorted(RAW["rubrics"]) == QUESTION_IDS
    for qid, entry in RAW["rubrics"].items():
        assert entry["question"] == qid


@pytest.mark.parametrize("qid", QUESTION_IDS)
def test_three_to_six_points_with_weights_summing_to_one(qid):
    points = RAW["rubrics"][qid]["points"]
    assert 3 <= len(points) <= 6
    weights = [p["weight"] for p in points]
    assert all(isinstance(w, int | float) and w > 0 for w in weights)
    assert math.isclose(math.fsum(weights), 1.0, abs_tol=1e-6)


@pytest.mark.parametrize("qid", QUESTION_IDS)
def test_sources_are_exact_passages_of_their_section(qid, section_texts):
    for point in RAW["rubrics"][qid]["points"]:
        source = normalised(point["source"])
        assert source, point["id"]
        assert source in section_texts[qid], f"{point['id']}: source not in {qid}: {source!r}"


def test_point_ids_are_unique_well_formed_and_in_order():
    ids = [p["id"] for p in all_points()]
    assert len(ids) == len(set(ids))
    for qid in QUESTION_IDS:
        got = [p["id"] for p in RAW["rubrics"][qid]["points"]]
        assert got == [f"{qid}.{n}" for n in range(1, len(got) + 1)]
        assert all(re.fullmatch(r"Q\d{2}\.[1-6]", i) for i in got)


def test_points_are_short_and_distinct_within_a_question():
    for qid in QUESTION_IDS:
        texts = [p["point"] for p in RAW["rubrics"][qid]["points"]]
        assert len(set(texts)) == len(texts), qid
        for point in RAW["rubrics"][qid]["points"]:
            # Reviewed points name the mechanism or trade-off, not only a term (mean 33 words).
            assert 3 <= len(point["point"].split()) <= 80, point["id"]


def test_keywords_are_non_empty_lower_case_and_not_repeated_within_a_question():
    for qid in QUESTION_IDS:
        seen: set[str] = set()
        for point in RAW["rubrics"][qid]["points"]:
            keywords = point["keywords"]
            assert 2 <= len(keywords) <= 6, point["id"]
            for keyword in keywords:
                assert keyword.strip() and keyword == keyword.lower(), (point["id"], keyword)
            assert not seen & set(keywords), (point["id"], seen & set(keywords))
            seen |= set(keywords)


def test_follow_ups_are_questions():
    for point in all_points():
        follow_up = point["follow_up"].strip()
        assert follow_up.endswith("?") and len(follow_up.split()) >= 4, point["id"]


def test_only_the_documented_fields():
    fields = {"id", "point", "weight", "source", "keywords", "follow_up"}
    for point in all_points():
        assert set(point) == fields, point["id"]


# --------------------------------------------------------------------------- the loader


def test_loader_builds_frozen_records():
    loaded = load_rubrics()
    assert list(loaded) == QUESTION_IDS
    rubric = loaded["Q17"]
    assert isinstance(rubric, Rubric) and rubric.question == "Q17"
    assert all(isinstance(p, RubricPoint) for p in rubric.points)
    assert isinstance(rubric.points[0].keywords, tuple)
    assert [p.id for p in rubric.points] == [p["id"] for p in RAW["rubrics"]["Q17"]["points"]]
    with pytest.raises(AttributeError):
        rubric.points[0].weight = 1.0  # frozen


def test_loader_is_cached_but_hands_out_copies():
    first = load_rubrics()
    first.pop("Q01")
    second = load_rubrics()
    assert "Q01" in second
    assert second["Q02"] is load_rubrics()["Q02"]  # the records themselves are shared


def test_section_text_helper_agrees_with_the_test():
    for q in load_handbook().questions:
        assert all(t.to_markdown() in q.body for t in q.tables), q.id  # tables are in the body
        expected = normalised(f"{q.question} {q.body} {q.tip}")
        assert rubrics.section_text(q) == expected


def test_missing_file_is_a_setup_error(tmp_path):
    with pytest.raises(SetupError, match="missing"):
        load_rubrics(tmp_path / "rubrics.json")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: "{not json", "not a readable rubrics file"),
        (lambda d: d.update(version=2) or d, "version 1"),
        (lambda d: d["rubrics"].pop("Q50") and d, "no rubric for Q50"),
        (lambda d: d["rubrics"]["Q03"]["points"][0].update(weight=0.9) or d, "weights sum"),
        (lambda d: d["rubrics"]["Q03"]["points"][0].update(weight=-0.1) or d, "positive"),
        (lambda d: d["rubrics"]["Q03"]["points"][0].pop("source") and d, "lacks"),
        (lambda d: d["rubrics"]["Q03"]["points"][0].update(keywords=["BPE"]) or d, "lower-case"),
        (lambda d: d["rubrics"]["Q03"]["points"][1].update(id="Q03.7") or d, "point ids"),
        (lambda d: d["rubrics"]["Q03"].update(points=[]) or d, "3-6 points"),
        (lambda d: d["rubrics"].update(Q51={}) or d, "unknown question ids"),
    ],
)
def test_corrupt_file_is_a_setup_error(tmp_path, mutate, message):
    data = mutate(json.loads(json.dumps(RAW)))
    path = tmp_path / "rubrics.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    with pytest.raises(SetupError, match=re.escape(message)):
        load_rubrics(path)


# --------------------------------------------------------------------------- the draft tool


@pytest.fixture(scope="module")
def drafts() -> dict:
    return rubric_draft.draft()


def test_draft_has_candidates_and_a_proposal_for_every_question(drafts, section_texts):
    assert sorted(drafts["drafts"]) == QUESTION_IDS
    for qid, entry in drafts["drafts"].items():
        assert entry["candidates"], qid
        kinds = {c["kind"] for c in entry["candidates"]}
        assert "tip" in kinds, qid
        for candidate in entry["candidates"]:
            assert normalised(candidate["source"]) in section_texts[qid], (qid, candidate)
        points = entry["points"]
        assert 3 <= len(points) <= 6, qid
        assert math.isclose(math.fsum(p["weight"] for p in points), 1.0, abs_tol=1e-6), qid
        assert all(p["keywords"] and p["follow_up"].endswith("?") for p in points), qid


def test_draft_finds_every_kind_of_candidate(drafts):
    kinds = {c["kind"] for e in drafts["drafts"].values() for c in e["candidates"]}
    assert {"definition", "labelled", "list_item", "table_row", "tip", "diagram"} <= kinds
    q22 = drafts["drafts"]["Q22"]["candidates"]
    assert any(c["source"].startswith("| How it works |") for c in q22)  # a table row verbatim


def test_draft_is_deterministic(drafts):
    assert rubric_draft.draft() == drafts


def test_draft_command_writes_json_and_compares(tmp_path):
    out = tmp_path / "drafts.json"
    cmd = [sys.executable, "-m", "coach.interview.rubric_draft", "--out", str(out)]
    subprocess.run(cmd, check=True, timeout=120)
    written = json.loads(out.read_text(encoding="utf-8"))
    assert sorted(written["drafts"]) == QUESTION_IDS
    assert all(written["drafts"][q]["candidates"] for q in QUESTION_IDS)

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "coach.interview.rubric_draft",
            "--compare",
            str(rubrics.RUBRICS_PATH),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    counts = json.loads(result.stdout)
    assert counts["final_points"] == len(all_points())
    classified = ("kept", "rewritten", "from_candidate", "added")
    assert sum(counts.get(k, 0) for k in classified) == counts["final_points"]


def test_no_keyword_is_already_in_the_question_and_none_is_a_single_letter():
    from coach.interview.grade import fold_math
    from coach.search import tokenize

    book = load_handbook()
    for qid in QUESTION_IDS:
        question = set(tokenize(fold_math(book.question(qid).question)))
        for point in RAW["rubrics"][qid]["points"]:
            for keyword in point["keywords"]:
                terms = tokenize(fold_math(keyword))
                assert terms and not set(terms) <= question, (point["id"], keyword)
                assert len(keyword.strip()) > 1, (point["id"], keyword)
