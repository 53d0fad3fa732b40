"""Rubrics for the user's own material (coach/interview/section_rubrics.py): extractive and
model proposals with verbatim sources, review operations, export/import, staleness after a
re-add, the grader's view of them, and `coach rubrics`. The model is a scripted fake."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from coach.cli.parser import main
from coach.config import load_config
from coach.errors import BadInput
from coach.guardrails import fake_guards
from coach.interview import Grader, InterviewSession, ProgressStore
from coach.interview import section_rubrics as sr
from coach.llm import FakeGenerator
from coach.search import HashEmbedder
from coach.sources import add, load_sections

GUIDE = """# Python notes

## Default argument values

The default values are evaluated at the point of function definition in the defining scope.
The default value is evaluated only once. This makes a difference when the default is a mutable
object such as a list, dictionary, or instances of most classes. Use None as the default and
create the list inside the function when you do not want it shared between calls. A default
is shared by every call that does not pass the argument.

## Tiny

Too short to ask about.
"""


@pytest.fixture
def notes(tmp_path) -> Path:
    path = tmp_path / "guide.md"
    path.write_text(GUIDE, encoding="utf-8")
    add(load_config(), "notes", [path])
    return path


def section(title: str):
    return next(s for s in load_sections(load_config(), "notes") if s.title == title)


def model_reply(picks):
    return {
        "points": [
            {"sentence": n, "point": text, "keywords": ["once"], "follow_up": "Why?"}
            for n, text in picks
        ]
    }


def test_extractive_proposals_cover_askable_sections_with_verbatim_sources(notes):
    cfg = load_config()
    result = sr.propose(cfg, "notes")
    assert result["proposed"] == 1 and result["rubrics"] == 1  # "Tiny" is not askable
    usable, stale = sr.current(cfg, "notes")
    sid = section("Default argument values").id
    rubric = usable[sid]
    assert rubric.status == "proposed" and rubric.made_by == "extractive" and stale == []
    assert rubric.question == "Explain default argument values."
    assert 3 <= len(rubric.points) <= 6
    assert math.isclose(sum(p["weight"] for p in rubric.points), 1.0)
    assert all(sr.verbatim(p["source"], section("Default argument values")) for p in rubric.points)
    assert [p["id"] for p in rubric.points][0] == f"notes:{sid}.1"


def test_model_points_with_bad_picks_are_rejected_and_topped_up(notes):
    cfg = load_config()
    offered = sr.offered_sentences(section("Default argument values"))
    assert "The default value is evaluated only once." in offered
    picks = [(2, "The default is evaluated once."), (2, "Repeated pick."), (99, "Out of range.")]
    gen = FakeGenerator([model_reply(picks)])
    sid = section("Default argument values").id
    sr.propose(cfg, "notes", [sid], generator=gen)
    rubric = sr.current(cfg, "notes")[0][sid]
    assert rubric.made_by == "model+extractive" and rubric.rejected == 2
    assert rubric.points[0]["point"] == "The default is evaluated once."
    assert rubric.points[0]["source"] == offered[1]
    assert len(rubric.points) == 3 and any("topped up" in n for n in rubric.notes)
    prompt = gen.calls[0]["messages"][-1]["content"]
    assert "2. The default value is evaluated only once." in prompt


def test_a_misnumbered_model_point_is_anchored_to_the_sentence_it_restates(notes):
    cfg = load_config()
    offered = sr.offered_sentences(section("Default argument values"))
    picks = [(1, "A mutable default such as a list or dictionary makes a difference.")] + [
        (n, offered[n - 1]) for n in (2, 4)
    ]
    sid = section("Default argument values").id
    sr.propose(cfg, "notes", [sid], generator=FakeGenerator([model_reply(picks)]))
    first = sr.current(cfg, "notes")[0][sid].points[0]
    assert first["source"] == offered[2]  # "This makes a difference when ... mutable ..."


def test_review_accept_edit_delete_reweight_and_their_checks(notes):
    cfg = load_config()
    sr.propose(cfg, "notes")
    sid = section("Default argument values").id
    ref = f"notes:{sid}"
    rubric = sr.current(cfg, "notes")[0][sid]
    first = rubric.points[0]["id"]
    edited = sr.edit_point(cfg, "notes", sid, first, point="Defaults are evaluated once.")
    assert edited.points[0]["point"] == "Defaults are evaluated once."
    with pytest.raises(BadInput, match="not a verbatim passage"):
        sr.edit_point(cfg, "notes", sid, first, source="Defaults are re-evaluated each call.")
    weights = sr.reweight(cfg, "notes", sid, [3] + [1] * (len(rubric.points) - 1))
    assert math.isclose(sum(p["weight"] for p in weights.points), 1.0)
    assert weights.points[0]["weight"] > weights.points[1]["weight"]
    while len(sr.current(cfg, "notes")[0][sid].points) > 3:
        sr.delete_point(cfg, "notes", sid, f"{ref}.2")
    with pytest.raises(BadInput, match="at least 3"):
        sr.delete_point(cfg, "notes", sid, f"{ref}.1")
    after = sr.current(cfg, "notes")[0][sid]
    assert [p["id"] for p in after.points] == [f"{ref}.1", f"{ref}.2", f"{ref}.3"]
    assert math.isclose(sum(p["weight"] for p in after.points), 1.0)
    assert sr.accept(cfg, "notes", sid).status == "reviewed"
    assert sr.propose(cfg, "notes")["kept_reviewed"] == 1  # a reviewed rubric is kept


def test_export_import_round_trip_and_a_bad_file_changes_nothing(notes, capfd):
    cfg = load_config()
    sr.propose(cfg, "notes")
    sid = section("Default argument values").id
    document = sr.export(cfg, "notes")
    assert document["rubrics"][0]["place"].endswith("Python notes › Default argument values")
    before = (cfg.home / "collections" / "notes" / "rubrics.json").read_bytes()
    bad = json.loads(json.dumps(document))
    bad["rubrics"][0]["points"][0]["source"] = "Not in the section at all, made up."
    with pytest.raises(BadInput, match="not a verbatim passage"):
        sr.import_rubrics(cfg, "notes", bad)
    bad["rubrics"][0]["points"] = bad["rubrics"][0]["points"][:2]
    with pytest.raises(BadInput, match="3-6 points"):
        sr.import_rubrics(cfg, "notes", bad)
    assert (cfg.home / "collections" / "notes" / "rubrics.json").read_bytes() == before
    assert sr.import_rubrics(cfg, "notes", document)["imported"] == 1
    assert sr.current(cfg, "notes")[0][sid].status == "reviewed"
    out_file = cfg.home / "export.json"
    assert main(["rubrics", "export", "notes", "--out", str(out_file)]) == 0
    assert json.loads(out_file.read_text())["rubrics"][0]["status"] == "reviewed"
    assert main(["rubrics", "import", "notes", str(out_file), "--json"]) == 0
    assert json.loads(capfd.readouterr().out.splitlines()[-1])["imported"] == 1
    out_file.write_bytes(b"\xff\xfe not json")
    assert main(["rubrics", "import", "notes", str(out_file)]) == 4
    assert "not UTF-8 JSON" in capfd.readouterr().err


def test_a_rubric_follows_its_text_to_a_new_id_and_goes_stale_when_the_text_changes(notes):
    cfg = load_config()
    sr.propose(cfg, "notes")
    (old_id,) = sr.current(cfg, "notes")[0]
    intro = "## Intro\n\nA new first section pushes the others down by one id.\n\n"
    notes.write_text(GUIDE.replace("## Default", intro + "## Default"), encoding="utf-8")
    add(cfg, "notes", [notes])
    usable, stale = sr.current(cfg, "notes")
    (new_id,) = usable
    assert new_id != old_id and stale == []
    assert new_id == section("Default argument values").id
    assert usable[new_id].points[0]["id"] == f"notes:{new_id}.1"
    assert sr.grading_rubric(cfg, f"notes:{new_id}")[2] == "proposed"
    notes.write_text(GUIDE.replace("only once", "exactly once"), encoding="utf-8")
    add(cfg, "notes", [notes])
    usable, stale = sr.current(cfg, "notes")
    assert usable == {} and len(stale) == 1  # its text changed: never used to grade
    with pytest.raises(BadInput, match="no rubric yet"):
        sr.grading_rubric(cfg, f"notes:{section('Default argument values').id}")


def test_a_mock_interview_on_a_collection_uses_its_rubrics(notes, tmp_path):
    cfg = load_config()
    with pytest.raises(BadInput, match="no rubrics yet"):
        with ProgressStore(tmp_path / "p.db") as store:
            InterviewSession.start(store, Grader(cfg), collection="notes")
    sr.propose(cfg, "notes")
    grader = Grader(
        cfg,
        generator=FakeGenerator(default='{"verdicts": []}'),
        embedder=HashEmbedder(),
        guards=fake_guards(),
    )
    with ProgressStore(tmp_path / "p.db") as store:
        session = InterviewSession.start(store, grader, collection="notes", count=1)
        (ref,) = session.plan
        assert ref.startswith("notes:s") and session.current().question.startswith("Explain")
        step = session.answer("The default value is evaluated only once, so a list is shared.")
        assert step.grade.rubric == "proposed" and "proposed rubric" in step.grade.feedback


def test_cli_propose_reports_counts(notes, capfd):
    assert main(["rubrics", "propose", "notes", "--json"]) == 0
    result = json.loads(capfd.readouterr().out.splitlines()[-1])
    assert result["proposed"] == 1 and result["collection"] == "notes"
    assert main(["rubrics", "propose", "notes", "--section", "s99"]) == 4
    assert "no section s99" in capfd.readouterr().err
    assert main(["rubrics", "export", "nope"]) == 4
    assert "No collection named 'nope'" in capfd.readouterr().err


def test_an_interview_asks_a_long_headings_question_once_not_once_per_window(tmp_path):
    cfg = load_config()
    facts = " ".join(
        f"Fact number {i} about caching says entry {i} expires after {i} seconds of idle time."
        for i in range(60)
    )
    path = tmp_path / "long.md"
    path.write_text(f"# Guide\n\n## Caching\n\n{facts}\n", encoding="utf-8")
    add(cfg, "long", [path])
    windows = [s for s in load_sections(cfg, "long") if s.heading_path[-1:] == ("Caching",)]
    assert len(windows) >= 3  # one heading, cut into windows
    sr.propose(cfg, "long")
    assert len(sr.current(cfg, "long")[0]) >= 3
    (ref,) = sr.refs_with_rubrics(cfg, "long")
    assert ref == f"long:{windows[0].id}"
