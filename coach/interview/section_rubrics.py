"""Rubrics for the user's own material: for each section of a collection that can be asked as
an interview question, 3-6 weighted key points, each tied to a passage that is a verbatim span
of the section, with keywords and a follow-up; proposed, then reviewed by the user.

Proposing: the question is the section's own question (a question-like section) or
"Explain <heading>." from its heading. The extractive drafter (rubric_draft.py: definitions,
labelled and listed sentences, emphasised terms) proposes points from the section's prose; with
`use_model`, the local model instead picks 3-6 of the section's numbered prose sentences and
words a point, keywords and a follow-up for each, so every source is a verbatim span by
construction -- and still checked: a pick outside the list, a repeat or a source that is not
verbatim is rejected and counted, a point is re-anchored to the sentence it restates when the
model misnumbers, and fewer than 3 valid points are topped up from the extractive draft (the
record says so). The model takes ~11-24 s a section on 2 idle cores, so whole collections are
drafted extractively and the model is asked section by section
(`coach rubrics propose NAME --section s12 --model`).

Storage: `$COACH_HOME/collections/NAME/rubrics.json`, written atomically under the collection's
lock. Each rubric keeps the sha256 of its section's text: after a re-add it follows its text to
the section's new id, and a rubric whose text changed or vanished is stale (listed, never used
to grade). Review: accept, edit a point, delete a point, reweight; importing a file makes its
rubrics reviewed. A rubric is graded on whatever its status: the grade says "proposed".
Leaves out: grading (grade.py), the review screen (coach/ui/material.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from coach.ask.collection_answer import is_code, paragraphs
from coach.config import Config
from coach.errors import BackendError, BadInput
from coach.guardrails import split_addressed
from coach.handbook import Question
from coach.interview import rubric_draft as draft
from coach.interview.collection_questions import as_question
from coach.interview.rubrics import MAX_POINTS, MIN_POINTS, Rubric, normalize_space, parse_rubric
from coach.llm import Generator, prompts
from coach.sources import Section, load_sections, read_manifest
from coach.sources.store import collection_dir, collection_lock, write_atomic

FILE = "rubrics.json"
POINT_TEXT = ("point", "source", "keywords", "follow_up")
VERSION = 1
STATUSES = ("proposed", "reviewed")
# Sections shorter than this have too little to ask about.
MIN_SECTION_WORDS = 40
# A sentence that points elsewhere instead of stating something ("For more details see ...").
_POINTER = re.compile(r"^(?:for (?:more|further|details|an? example)|see |as (?:we|you) saw)", re.I)
_NUMBERING = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?|[A-Z]\.)\s+")
# The model picks sentences by number: at most this many are offered (the prompt stays short).
MAX_OFFERED = 30
# A point is moved to the offered sentence sharing clearly more of its words than the one the
# model numbered (the 1.5B model is often off by one on long lists).
REANCHOR_MARGIN = 0.2


def model_schema(offered: int) -> dict:
    return {
        "type": "object",
        "properties": {
            "points": {
                "type": "array",
                "minItems": MIN_POINTS,
                "maxItems": MAX_POINTS,
                "items": {
                    "type": "object",
                    "properties": {
                        "sentence": {"type": "integer", "minimum": 1, "maximum": offered},
                        "point": {"type": "string", "minLength": 8, "maxLength": 240},
                        "keywords": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 4,
                            "items": {"type": "string", "minLength": 2, "maxLength": 40},
                        },
                        "follow_up": {"type": "string", "minLength": 8, "maxLength": 200},
                    },
                    "required": ["sentence", "point", "keywords", "follow_up"],
                },
            }
        },
        "required": ["points"],
    }


@dataclass(frozen=True)
class SectionRubric:
    section: str  # "s67"
    question: str
    status: str  # "proposed" | "reviewed"
    text_sha256: str  # of the section's text when the rubric was made
    made_by: str  # "extractive" | "model" | "model+extractive" | "import" | "edited"
    points: tuple[dict, ...]  # the rubric point fields (rubrics.py), ids "<ref>.1".."<ref>.n"
    rejected: int = 0  # model points whose source was not a verbatim span
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict:
        return {
            "section": self.section,
            "question": self.question,
            "status": self.status,
            "text_sha256": self.text_sha256,
            "made_by": self.made_by,
            "rejected": self.rejected,
            "notes": list(self.notes),
            "points": [dict(p) for p in self.points],
        }

    @classmethod
    def from_json(cls, obj: dict) -> SectionRubric:
        return cls(
            section=str(obj["section"]),
            question=str(obj["question"]),
            status=str(obj["status"]),
            text_sha256=str(obj["text_sha256"]),
            made_by=str(obj.get("made_by", "import")),
            points=tuple(dict(p) for p in obj["points"]),
            rejected=int(obj.get("rejected", 0)),
            notes=tuple(obj.get("notes", ())),
        )


def text_sha(section: Section) -> str:
    return hashlib.sha256(section.text.encode("utf-8")).hexdigest()


def question_for(section: Section) -> str:
    """The interview question a section answers.

    >>> s = Section("s1", "a.md", "/a.md", ("Guide", "4.8.1. Default Argument Values"),
    ...             "4.8.1. Default Argument Values", "...", 0, 3)
    >>> question_for(s)
    'Explain default argument values.'
    >>> question_for(replace(s, heading_path=("Using the API",)))
    'Explain using the API.'
    """
    if section.question_like:
        return section.title
    words = heading_of(section).split()
    if all(w[:1].isupper() for w in words if len(w) > 3):  # Title Case: lower it, but not "API"
        words = [w if w[1:2].isupper() else w.lower() for w in words]
    elif words and not words[0][1:2].isupper():
        words[0] = words[0].lower()
    return f"Explain {' '.join(words)}."


def heading_of(section: Section) -> str:
    """The section's own heading, without its numbering or window counter.

    >>> heading_of(Section("s1", "a", "/a", ("4.8.1. Default Values",), "x (2/3)", "t", 0, 1))
    'Default Values'
    """
    heading = _NUMBERING.sub("", (section.heading_path or (section.title,))[-1])
    return re.sub(r"\s*\(\d+/\d+\)$", "", heading).strip()


def askable(section: Section) -> bool:
    """A section worth an interview question: enough prose, and a heading or question."""
    prose = " ".join(b for b in paragraphs(section.text) if not is_code(b))
    return len(prose.split()) >= MIN_SECTION_WORDS and bool(
        section.question_like or section.heading_path
    )


def verbatim(source: str, section: Section) -> bool:
    return bool(source.strip()) and normalize_space(source) in normalize_space(section.text)


# -- proposing ------------------------------------------------------------------------------


def _idf(sections: Sequence[Section]) -> dict[str, float]:
    docs = [set(draft.content_words(s.text)) for s in sections]
    counts = Counter(w for doc in docs for w in doc)
    return {w: math.log(len(docs) / n) for w, n in counts.items()}


def _candidates(section: Section) -> list[draft.Candidate]:
    found: list[draft.Candidate] = []
    prose = [b for b in paragraphs(section.text, section.title) if not is_code(b)]
    for i, block in enumerate(prose):
        found += draft.paragraph_candidates(normalize_space(block), first=i == 0)
    flagged = _flagged(section)
    found = [c for c in found if not any(c.source in f or f in c.source for f in flagged)]
    unique: dict[str, draft.Candidate] = {}
    for c in found:
        c.source = normalize_space(c.source)
        # Not a key point: a lead-in to an example ("... like this:") or a fragment a code
        # block cut from its sentence ("which is more concise.").
        lead_in, fragment = c.source.endswith(":"), c.source[:1].islower()
        pointer = bool(_POINTER.match(c.source))
        exclaims = c.source.endswith("!")  # "Study that one carefully!": advice, not a fact
        if (
            verbatim(c.source, section)
            and len(c.source.split()) >= 6
            and not (lead_in or fragment or pointer or exclaims)
        ):
            unique.setdefault(c.source, c)
    return list(unique.values())


def extractive(section: Section, question: Question, idf: dict) -> list[dict]:
    """Draft points from the section's own sentences (rubric_draft's rules)."""
    found = _candidates(section)
    points = draft.propose(question, found, idf) if len(found) >= MIN_POINTS else []
    return [{k: v for k, v in p.items() if k != "kind"} for p in points]


def _flagged(section: Section) -> list[str]:
    """What the document scan flags in the section (text addressing an AI): never a point."""
    return [normalize_space(p) for p in split_addressed(section.text, document=True)[1]]


def offered_sentences(section: Section) -> list[str]:
    """The section's prose sentences the model may pick from, in order (no code, no lead-ins
    to examples, no fragments, nothing flagged), whitespace-normalised and verbatim."""
    flagged = _flagged(section)
    out: list[str] = []
    for block in paragraphs(section.text, section.title):
        if is_code(block):
            continue
        for sentence in draft.sentences(normalize_space(block)):
            # A lead-in to what follows ("... like this:", "The try statement works as follows.").
            lead_in = sentence.endswith(":") or sentence.endswith("as follows.")
            ok = len(sentence.split()) >= 5 and not lead_in
            # No full stop: a code block cut the sentence ("... in the defining scope, so that").
            ok = ok and sentence.rstrip("\"')").endswith((".", "?", "!"))
            ok = ok and not any(sentence in f or f in sentence for f in flagged)
            if ok and not sentence[:1].islower() and verbatim(sentence, section):
                out.append(sentence)
    return list(dict.fromkeys(out))[:MAX_OFFERED]


def from_model(generator: Generator, section: Section, question: str) -> tuple[list[dict], int]:
    """(valid points, rejected count): the model picks numbered sentences and words a point
    for each; a pick outside the list, a repeat, or a source not verbatim is rejected."""
    offered = offered_sentences(section)
    if len(offered) < MIN_POINTS:
        return [], 0
    listing = "\n".join(f"{i}. {s}" for i, s in enumerate(offered, 1))
    messages = [
        {"role": "system", "content": prompts.render("rubric", "system")},
        {"role": "user", "content": prompts.render("rubric", "user", question=question,
                                                    sentences=listing)},
    ]  # fmt: skip
    reply = generator.complete(
        messages, max_tokens=700, temperature=0.0, schema=model_schema(len(offered))
    )
    try:
        raw = json.loads(reply.text)["points"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BackendError(f"the model's rubric was not valid JSON ({exc})") from exc
    valid, rejected = [], 0
    for p in raw if isinstance(raw, list) else []:
        n = p.get("sentence") if isinstance(p, dict) else None
        source = offered[n - 1] if isinstance(n, int) and 1 <= n <= len(offered) else ""
        keywords = [str(k).lower().strip() for k in p.get("keywords", []) if str(k).strip()]
        point = str(p.get("point", "")).strip()
        if source and point:  # small models misnumber: anchor the point where its words are
            best = max(offered, key=lambda o: draft.overlap(point, o))
            if draft.overlap(point, best) > draft.overlap(point, source) + REANCHOR_MARGIN:
                source = best
        fresh = source and all(source != v["source"] for v in valid)
        if not (fresh and verbatim(source, section) and keywords and point):
            rejected += 1
            continue
        follow = str(p.get("follow_up", "")).strip() or "Can you go one level deeper on that?"
        valid.append({"point": point, "source": source, "keywords": keywords, "follow_up": follow})
    return valid[:MAX_POINTS], rejected


def _numbered(ref: str, points: list[dict]) -> tuple[dict, ...]:
    """Ids ref.1..ref.n and weights: equal shares rounded to 2 decimals summing to exactly 1."""
    n = len(points)
    weights = [round(1.0 / n, 2)] * n
    weights[0] = round(1.0 - sum(weights[1:]), 2)
    return tuple(
        {"id": f"{ref}.{i}", "weight": w, **{k: p[k] for k in POINT_TEXT}}
        for i, (p, w) in enumerate(zip(points, weights, strict=True), 1)
    )


def propose_one(
    section: Section,
    name: str,
    idf: dict,
    generator: Generator | None = None,
) -> SectionRubric:
    """A proposed rubric for one section (the model's, when a generator is given)."""
    ref = f"{name}:{section.id}"
    question = question_for(section)
    shaped = as_question(ref, heading_of(section), question, section.text)
    draft_points = extractive(section, shaped, idf)
    notes: list[str] = []
    rejected, made_by = 0, "extractive"
    points = draft_points
    if generator is not None:
        model_points, rejected = from_model(generator, section, question)
        made_by = "model"
        if rejected:
            notes.append(f"{rejected} model point(s) rejected: source not verbatim in the section")
        if len(model_points) < MIN_POINTS:
            extra = [
                p for p in draft_points if p["source"] not in {m["source"] for m in model_points}
            ]
            model_points += extra[: MIN_POINTS - len(model_points)]
            made_by = "model+extractive"
            notes.append("topped up from the extractive draft (too few valid model points)")
        points = [{k: v for k, v in p.items() if k != "weight"} for p in model_points]
    if len(points) < MIN_POINTS:
        raise BadInput(
            f"{ref} ({section.title}): too little prose for {MIN_POINTS} key points; "
            "pick a longer section."
        )
    return SectionRubric(
        section=section.id,
        question=question,
        status="proposed",
        text_sha256=text_sha(section),
        made_by=made_by,
        points=tuple(draft_points) if made_by == "extractive" else _numbered(ref, points),
        rejected=rejected,
        notes=tuple(notes),
    )


# -- storage --------------------------------------------------------------------------------


def _path(cfg: Config, name: str):
    return collection_dir(cfg, name) / FILE


def load(cfg: Config, name: str) -> dict[str, SectionRubric]:
    """The collection's rubrics by section id, as stored (see `current` for staleness)."""
    read_manifest(cfg, name)  # a clear error for an unknown collection
    path = _path(cfg, name)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')!r}, expected {VERSION}")
        return {r["section"]: SectionRubric.from_json(r) for r in data["rubrics"]}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(
            f"The rubrics of collection {name!r} are unreadable ({path}: {exc}). Fix: restore "
            f"your export with `coach rubrics import {name} FILE`, or move the file away and "
            f"propose them again with `coach rubrics propose {name}`."
        ) from exc


def _save(cfg: Config, name: str, rubrics: dict[str, SectionRubric]) -> None:
    ordered = sorted(rubrics.values(), key=lambda r: int(r.section[1:]))
    data = {"version": VERSION, "collection": name, "rubrics": [r.to_json() for r in ordered]}
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_atomic(_path(cfg, name), text.encode("utf-8"))


def _renumbered(rubric: SectionRubric, section_id: str, name: str) -> SectionRubric:
    ref = f"{name}:{section_id}"
    points = tuple({**p, "id": f"{ref}.{i}"} for i, p in enumerate(rubric.points, 1))
    return replace(rubric, section=section_id, points=points)


def current(
    cfg: Config, name: str, sections: Sequence[Section] | None = None
) -> tuple[dict[str, SectionRubric], list[SectionRubric]]:
    """(usable rubrics by current section id, stale ones). A rubric follows its section's text
    to a new id after a re-add; one whose text changed or went is stale. `sections`: the
    collection's, when the caller has them loaded already."""
    sections = load_sections(cfg, name) if sections is None else sections
    by_sha = {text_sha(s): s.id for s in sections}
    usable, stale = {}, []
    for rubric in load(cfg, name).values():
        sid = by_sha.get(rubric.text_sha256)
        if sid is None:
            stale.append(rubric)
        else:
            usable[sid] = rubric if sid == rubric.section else _renumbered(rubric, sid, name)
    return usable, stale


def propose(
    cfg: Config,
    name: str,
    section_ids: Sequence[str] = (),
    generator: Generator | None = None,
    replace_reviewed: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Propose rubrics for the named sections (default: every askable section without one).
    Reviewed rubrics are kept unless `replace_reviewed`. Returns counts and skipped sections."""
    say = progress or (lambda _m: None)
    sections = load_sections(cfg, name)
    by_id = {s.id: s for s in sections}
    unknown = [sid for sid in section_ids if sid not in by_id]
    if unknown:
        raise BadInput(f"Collection {name!r} has no section {', '.join(unknown)}.")
    chosen = [by_id[sid] for sid in section_ids] or [s for s in sections if askable(s)]
    idf = _idf(sections)
    made, skipped = {}, []
    for i, section in enumerate(chosen, 1):
        try:
            made[section.id] = propose_one(section, name, idf, generator)
            say(f"[{i}/{len(chosen)}] {name}:{section.id} {section.title}: "
                f"{len(made[section.id].points)} points ({made[section.id].made_by})")  # fmt: skip
        except BadInput as exc:
            skipped.append({"section": section.id, "reason": exc.message})
    with collection_lock(cfg, name):
        usable, stale = current(cfg, name)
        kept = 0
        for sid, rubric in made.items():
            if sid in usable and usable[sid].status == "reviewed" and not replace_reviewed:
                kept += 1
                continue
            usable[sid] = rubric
        _save(cfg, name, usable | {r.section: r for r in stale if r.section not in usable})
    return {
        "collection": name,
        "proposed": len(made) - kept,
        "kept_reviewed": kept,
        "skipped": skipped,
        "rubrics": len(usable),
    }


# -- review ---------------------------------------------------------------------------------


def _checked(ref: str, rubric: SectionRubric, section: Section) -> SectionRubric:
    """The rubric if it is a valid rubric of its section (rubrics.py's shape rules, weights
    summing to 1, every source verbatim in the section); else BadInput naming the problem."""
    try:
        parse_rubric(ref, {"question": ref, "points": list(rubric.points)})
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(str(exc)) from None
    for p in rubric.points:
        if not verbatim(p["source"], section):
            raise BadInput(
                f"{p['id']}: its source is not a verbatim passage of {ref}: {p['source']!r}"
            )
    if not rubric.question.strip():
        raise BadInput(f"{ref}: the question is empty")
    return rubric


def _change(cfg: Config, name: str, section_id: str, edit: Callable) -> SectionRubric:
    with collection_lock(cfg, name):
        usable, stale = current(cfg, name)
        if section_id not in usable:
            raise BadInput(f"{name}:{section_id} has no rubric (coach rubrics propose {name}).")
        section = {s.id: s for s in load_sections(cfg, name)}[section_id]
        changed = _checked(f"{name}:{section_id}", edit(usable[section_id]), section)
        usable[section_id] = changed
        _save(cfg, name, usable | {r.section: r for r in stale if r.section not in usable})
    return changed


def accept(cfg: Config, name: str, section_id: str) -> SectionRubric:
    return _change(cfg, name, section_id, lambda r: replace(r, status="reviewed"))


def edit_point(
    cfg: Config, name: str, section_id: str, point_id: str, **fields: object
) -> SectionRubric:
    """Change a point's `point`, `keywords`, `follow_up` or `source` (checked verbatim)."""
    allowed = {"point", "keywords", "follow_up", "source"}
    if set(fields) - allowed:
        raise BadInput(f"Only {', '.join(sorted(allowed))} of a point can be edited.")
    if "keywords" in fields:
        fields["keywords"] = [str(k).lower().strip() for k in fields["keywords"] if str(k).strip()]  # type: ignore[union-attr]

    def edit(r: SectionRubric) -> SectionRubric:
        if point_id not in {p["id"] for p in r.points}:
            raise BadInput(f"{name}:{section_id} has no point {point_id}.")
        points = tuple({**p, **fields} if p["id"] == point_id else p for p in r.points)
        return replace(r, points=points, made_by="edited")

    return _change(cfg, name, section_id, edit)


def delete_point(cfg: Config, name: str, section_id: str, point_id: str) -> SectionRubric:
    """Drop a point (at least MIN_POINTS stay); the others share its weight pro rata."""

    def edit(r: SectionRubric) -> SectionRubric:
        kept = [p for p in r.points if p["id"] != point_id]
        if len(kept) == len(r.points):
            raise BadInput(f"{name}:{section_id} has no point {point_id}.")
        if len(kept) < MIN_POINTS:
            raise BadInput(f"A rubric keeps at least {MIN_POINTS} points; edit this one instead.")
        return _renumbered(replace(r, points=_scaled(kept), made_by="edited"), section_id, name)

    return _change(cfg, name, section_id, edit)


def reweight(cfg: Config, name: str, section_id: str, weights: Sequence[float]) -> SectionRubric:
    """Set the points' weights in order (any positive numbers: scaled to sum to 1)."""

    def edit(r: SectionRubric) -> SectionRubric:
        if len(weights) != len(r.points) or any(not w > 0 for w in weights):
            raise BadInput(f"Give {len(r.points)} positive weights, one per point, in order.")
        points = [{**p, "weight": float(w)} for p, w in zip(r.points, weights, strict=True)]
        return replace(r, points=_scaled(points), made_by="edited")

    return _change(cfg, name, section_id, edit)


def _scaled(points: list[dict]) -> tuple[dict, ...]:
    """Weights scaled to sum to exactly 1 (2 decimals, the remainder on the heaviest)."""
    total = math.fsum(p["weight"] for p in points)
    weights = [round(p["weight"] / total, 2) for p in points]
    heaviest = max(range(len(points)), key=lambda i: weights[i])
    weights[heaviest] = round(weights[heaviest] + 1.0 - math.fsum(weights), 2)
    return tuple({**p, "weight": w} for p, w in zip(points, weights, strict=True))


# -- export and import ----------------------------------------------------------------------


def export(cfg: Config, name: str) -> dict:
    """The collection's usable rubrics as an importable document, with each section's place."""
    usable, _stale = current(cfg, name)
    sections = {s.id: s for s in load_sections(cfg, name)}
    return {
        "version": VERSION,
        "collection": name,
        "rubrics": [
            {
                **r.to_json(),
                "place": f"{sections[sid].source} › {' › '.join(sections[sid].heading_path)}",
            }
            for sid, r in sorted(usable.items(), key=lambda kv: int(kv[0][1:]))
        ],
    }


def import_rubrics(cfg: Config, name: str, data: object) -> dict:
    """Replace the named sections' rubrics with a document's (they become reviewed). Every
    rubric is checked first; one bad rubric is an error naming it and nothing changes."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise BadInput(f"Not a rubrics file (expected a JSON object with version {VERSION}).")
    entries = data.get("rubrics")
    if not isinstance(entries, list) or not entries:
        raise BadInput("The file has no rubrics.")
    sections = {s.id: s for s in load_sections(cfg, name)}
    checked: dict[str, SectionRubric] = {}
    for i, obj in enumerate(entries, 1):
        try:
            sid = str(obj["section"])
            rubric = SectionRubric(
                section=sid,
                question=str(obj["question"]),
                status="reviewed",
                text_sha256="",
                made_by="import",
                points=tuple(dict(p) for p in obj["points"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInput(f"Rubric {i} of the file is malformed ({exc}).") from None
        if sid not in sections:
            raise BadInput(f"Rubric {i}: collection {name!r} has no section {sid!r}.")
        rubric = _renumbered(rubric, sid, name)
        checked[sid] = _checked(
            f"{name}:{sid}", replace(rubric, text_sha256=text_sha(sections[sid])), sections[sid]
        )
    with collection_lock(cfg, name):
        usable, stale = current(cfg, name)
        usable.update(checked)
        _save(cfg, name, usable | {r.section: r for r in stale if r.section not in usable})
    return {"collection": name, "imported": len(checked), "rubrics": len(usable)}


# -- for the grader -------------------------------------------------------------------------


def grading_rubric(
    cfg: Config, ref: str, sections: Sequence[Section] | None = None
) -> tuple[str, Rubric, str]:
    """(question, rubric, status) of collection section `ref` ("pytut:s67")."""
    name, _, sid = ref.partition(":")
    usable, _stale = current(cfg, name, sections)
    if sid not in usable:
        raise BadInput(
            f"{ref} has no rubric yet, so it cannot be graded. Fix: coach rubrics propose "
            f"{name} --section {sid}"
        )
    r = usable[sid]
    return r.question, parse_rubric(ref, {"question": ref, "points": list(r.points)}), r.status


def refs_with_rubrics(cfg: Config, name: str) -> list[str]:
    """Refs of the collection's sections that have a usable rubric, reviewed ones first, one
    per question: the windows of one long heading all ask "Explain <heading>.", and an
    interview should not ask it three times."""
    usable, _stale = current(cfg, name)
    order = sorted(usable.values(), key=lambda r: (r.status != "reviewed", int(r.section[1:])))
    first = {}
    for r in order:
        first.setdefault(r.question, r)
    return [f"{name}:{r.section}" for r in first.values()]
