"""What the model may pick as a rubric point's source in extracted HTML (the Python tutorial's
shapes): an interactive session is code even though it ends in its "..." prompt, and a sentence
a code block cut off has no full stop and is not offered. The rest of section_rubrics is in
tests/test_section_rubrics.py."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from coach.cli.parser import main
from coach.config import load_config
from coach.interview import section_rubrics as sr
from coach.llm import FakeGenerator
from coach.sources import add, load_sections

# As coach/sources/html_text.py extracts tutorial/errors.html and controlflow.html.
GUIDE = """# Notes

## Handling exceptions

It is possible to write programs that handle selected exceptions. The following example asks
the user for input until a valid integer has been entered.

>>> while True:
...     try:
...         x = int(input("Please enter a number: "))
...         break
...     except ValueError:
...         print("Oops!  That was no valid number.  Try again...")
...

The try statement works as follows. First, the try clause is executed. If no exception occurs,
the except clause is skipped and execution of the try statement is finished.

The default values are evaluated at the point of function definition in the defining scope, so that

i = 5

will print 5.
"""


def test_sessions_and_cut_sentences_are_never_offered_to_the_model(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text(GUIDE, encoding="utf-8")
    cfg = load_config()
    add(cfg, "notes", [path])
    (section,) = [s for s in load_sections(cfg, "notes") if s.title.endswith("exceptions")]
    offered = sr.offered_sentences(section)
    assert "If no exception occurs, the except clause is skipped" in " ".join(offered)
    assert not any(">>>" in s or "Oops" in s or "no valid number" in s for s in offered)
    assert not any(s.endswith("so that") for s in offered)
    # Picking the session's line by number is out of range now, so it is rejected and counted.
    reply = {"points": [{"sentence": len(offered) + 1, "point": "Oops!", "keywords": ["x"]}]}
    rubric = sr.propose_one(section, "notes", {}, FakeGenerator([reply]))
    assert rubric.rejected == 1 and rubric.made_by == "model+extractive"
    assert all(">>>" not in p["source"] for p in rubric.points)


def test_lead_ins_are_not_offered_and_rubrics_json_output_matches_its_schema(tmp_path, capfd):
    path = tmp_path / "notes.md"
    path.write_text(GUIDE, encoding="utf-8")
    cfg = load_config()
    add(cfg, "notes", [path])
    (section,) = [s for s in load_sections(cfg, "notes") if s.title.endswith("exceptions")]
    assert "The try statement works as follows." not in sr.offered_sentences(section)
    schema = json.loads(
        resources.files("coach.cli").joinpath("schemas/rubrics.json").read_text("utf-8")
    )
    out_file = tmp_path / "rubrics.json"
    runs = (
        ["rubrics", "propose", "notes", "--no-model", "--json"],
        ["rubrics", "export", "notes", "--out", str(out_file), "--json"],
        ["rubrics", "import", "notes", str(out_file), "--json"],
        ["rubrics", "export", "notes"],
    )
    for argv in runs:
        capfd.readouterr()
        assert main(argv) == 0
        jsonschema.validate(json.loads(capfd.readouterr().out), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"collection": "notes", "imported": "3"}, schema)
