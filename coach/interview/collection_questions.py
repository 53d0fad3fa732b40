"""A section of the user's collection as an interview question: the section, the question its
rubric asks, and the rubric (reviewed, or only proposed), in the shapes the grader and the
session use for handbook questions.

Leaves out: proposing and reviewing rubrics (section_rubrics.py).
"""

from __future__ import annotations

from coach.ask.collection_answer import paragraphs, render
from coach.config import Config
from coach.errors import BadInput
from coach.guardrails.document_scan import clean_passage, flagged_sections
from coach.handbook import Question
from coach.interview.rubrics import Rubric
from coach.sources import Section, list_collections, load_sections


def as_question(ref: str, title: str, question: str, body: str) -> Question:
    """A handbook-shaped Question for a collection section (no part, tables or tip)."""
    name = ref.split(":", 1)[0]
    return Question(
        id=ref,
        number=0,
        title=title,
        question=question,
        part=name,
        body=body,
        tables=(),
        tip_label="",
        tip="",
        lines=(),
        blocks=(),
    )


def section_of(cfg: Config, ref: str) -> tuple[Section, list[Section]]:
    """The collection section `ref` ("pytut:s67") names, and all its collection's sections;
    BadInput saying what exists."""
    name, _, sid = ref.partition(":")
    if not any(c.name == name for c in list_collections(cfg)):
        raise BadInput(f"{ref}: there is no collection named {name!r} (see: coach collections).")
    sections = load_sections(cfg, name)
    for section in sections:
        if section.id == sid:
            return section, sections
    raise BadInput(f"{ref}: collection {name!r} has no section {sid!r}.")


def load_collection_question(cfg: Config, ref: str) -> tuple[Question, Rubric, str]:
    """(question, rubric, "reviewed" | "proposed") for collection section `ref`."""
    from coach.interview import section_rubrics  # it builds on this module's as_question

    section, sections = section_of(cfg, ref)  # read once, for the rubric's staleness too
    question, rubric, status = section_rubrics.grading_rubric(cfg, ref, sections)
    pieces = [f.text for f in flagged_sections(cfg, ref.split(":")[0]).get(section.id, [])]
    text = clean_passage(section.text, pieces)  # the model answer never shows flagged text
    heading = (section.heading_path or (section.title,))[-1]  # the title has "(1/2)" added
    body = render(paragraphs(text, heading))  # its heading line dropped, code kept as code
    return as_question(ref, section.title, question, body), rubric, status


def collection_refs(cfg: Config, name: str) -> list[str]:
    """The refs of collection `name`'s sections that have a rubric, reviewed ones first; a
    BadInput with the fix when there are none."""
    from coach.interview import section_rubrics

    if not any(c.name == name for c in list_collections(cfg)):
        raise BadInput(f"There is no collection named {name!r} (see: coach collections).")
    refs = section_rubrics.refs_with_rubrics(cfg, name)
    if not refs:
        raise BadInput(
            f"Collection {name!r} has no rubrics yet, so there is nothing to grade against. "
            f"Fix: coach rubrics propose {name}"
        )
    return refs
