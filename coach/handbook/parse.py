"""Parse the handbook text into records: front matter, 9 part intros, 50 questions, back matter.

The source is text extracted from a designed PDF: one line per paragraph, blank lines between
blocks, and page furniture mixed in. Its layout, which this module relies on and checks:

- front matter: cover and contents; the contents list `Part 1 — LLM Foundations`, the range
  `Q1–6` and the question titles `01What is an LLM?`;
- a part page starts at `Part One` (`Part IX` for the last one): title lines, an intro
  paragraph, a topics line `Q1 — What is an LLM? Q2 — ...`, `Questions 1 – 6`, a byline;
- a question starts at `Q05`: the question sentence, the answer body (paragraphs, diagram label
  lines, tables) and, last, a tip: a label line `→ Key Insight` followed by one line of text;
- back matter: whatever follows the last question's tip.

Tables lost their cell separators in the extraction, so which lines are table rows and where their
cells split comes from the hand-checked `corpus/table_overlay.json`, not from guessing. Anything
unexpected raises SetupError naming the line, so a changed handbook fails loudly instead of being
indexed wrongly. Leaves out: chunking and indexing (see chunk.py, coach/search/index.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from coach.config import CORPUS_DIR
from coach.errors import BadInput, SetupError

DEFAULT_HANDBOOK = CORPUS_DIR / "handbook.txt"
OVERLAY_NAME = "table_overlay.json"
QUESTION_COUNT = 50
PART_COUNT = 9
# Bump when parsing changes what the records contain, so corpus_hash() marks indexes stale.
PARSE_VERSION = "1"

TIP_MARK = "→"
# Part pages are headed "Part One" .. "Part Eight", but the last one "Part IX".
_PART_NUMBERS = {
    word: number
    for words in ("one two three four five six seven eight nine", "i ii iii iv v vi vii viii ix")
    for number, word in enumerate(words.split(), start=1)
}
_QUESTION_HEADING = re.compile(r"Q(\d{2})")
_PART_HEADING = re.compile(r"Part ([A-Za-z]+)")
_CONTENTS_PART = re.compile(r"Part (\d+) — (.+)")
_CONTENTS_RANGE = re.compile(r"Q(\d+)–(\d+)")
_CONTENTS_QUESTION = re.compile(r"(\d{2})(\S.*)")
_PART_RANGE = re.compile(r"Questions (\d+) – (\d+)")
_TOPIC_SPLIT = re.compile(r"(?:^|\s+)Q\d+ — ")
_ID = re.compile(r"([QP]?)0*(\d{1,3})")

# A line as the parser sees it: (1-based line number, text).
Line = tuple[int, str]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Table:
    """A table whose first row is the header. The header's first cell may be empty: the blank
    top-left corner of a comparison table.

    >>> print(Table(("", "GPT-3"), (("Context", "~4K | 8K"),)).to_markdown())
    |  | GPT-3 |
    | --- | --- |
    | Context | ~4K \\| 8K |
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def to_markdown(self) -> str:
        lines = [_markdown_row(self.header), _markdown_row(("---",) * len(self.header))]
        lines += [_markdown_row(row) for row in self.rows]
        return "\n".join(lines)

    def to_text(self) -> str:
        """Plain text for indexing: one row per line, cells apart so words don't run together.

        >>> print(Table(("Method", "Used By"), (("RoPE", "LLaMA"),)).to_text())
        Method | Used By
        RoPE | LLaMA
        """
        rows = (self.header, *self.rows)
        return "\n".join(" | ".join(cell for cell in row if cell) for row in rows)


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Diagram:
    """The label lines of a figure; the source keeps only its words, one label per line."""

    items: tuple[str, ...]


Block = Paragraph | Diagram | Table


@dataclass(frozen=True)
class Question:
    id: str  # "Q05"
    number: int
    title: str  # the contents-page title
    question: str
    part: str  # "P1"
    body: str  # markdown: paragraphs, diagram blocks, tables
    tables: tuple[Table, ...]
    tip_label: str  # "Key Insight", "Interview Tip", ...
    tip: str
    lines: tuple[int, ...]
    blocks: tuple[Block, ...]  # the body's structure, for chunking

    def to_markdown(self) -> str:
        """The full section, as `coach show Q05` prints it."""
        return (
            f"## {self.id} · {self.title}\n\n**Question:** {self.question}\n\n{self.body}\n\n"
            f"**{TIP_MARK} {self.tip_label}:** {self.tip}"
        )

    @property
    def text(self) -> str:
        """Plain text for indexing: title, question, answer and tip, no markdown syntax."""
        body = "\n\n".join(_block_text(block) for block in self.blocks)
        return f"{self.title}\n{self.question}\n\n{body}\n\n{self.tip_label}: {self.tip}"


@dataclass(frozen=True)
class Part:
    id: str  # "P1"
    number: int
    title: str
    intro: str
    topics: tuple[str, ...]  # short topic labels printed on the part page
    question_ids: tuple[str, ...]
    lines: tuple[int, ...]

    def to_markdown(self) -> str:
        topics = "".join(f"\n- {topic}" for topic in self.topics)
        span = f"{self.question_ids[0]}–{self.question_ids[-1]}"
        return (
            f"## {self.id} · Part {self.number}: {self.title}\n\n{self.intro}\n\n"
            f"Questions {span}. Topics:{topics}"
        )

    @property
    def text(self) -> str:
        return "\n".join([self.title, self.intro, *self.topics])


@dataclass(frozen=True)
class Section:
    """Front or back matter, kept as its raw non-empty lines."""

    name: str
    text: str
    lines: tuple[int, ...]


@dataclass(frozen=True)
class Handbook:
    front_matter: Section
    parts: tuple[Part, ...]
    questions: tuple[Question, ...]
    back_matter: Section

    def section(self, ref: str) -> Question | Part:
        """The question or part intro a reference names: "Q17", "q17", "17", "P3", "p3"."""
        wanted = normalize_id(ref)
        for record in (*self.questions, *self.parts):
            if record.id == wanted:
                return record
        raise BadInput(f"{wanted} is not in this handbook")  # only if the handbook is short

    def question(self, ref: str) -> Question:
        record = self.section(ref)
        if not isinstance(record, Question):
            raise BadInput(f"{record.id} is a part intro, not a question: use Q01..Q50")
        return record

    def records(self) -> tuple[Section | Part | Question, ...]:
        """Every record in source order (front matter, each part then its questions, back)."""
        ordered: list[Section | Part | Question] = [self.front_matter]
        for part in self.parts:
            ordered.append(part)
            ordered += [q for q in self.questions if q.part == part.id]
        return (*ordered, self.back_matter)


# --------------------------------------------------------------------------- ids


def normalize_id(ref: object) -> str:
    """Turn a user's reference into a canonical id; raise BadInput for anything else.

    >>> [normalize_id(r) for r in ["Q17", "q17", "17", "Q7", " q007 ", "P3", "p3"]]
    ['Q17', 'Q17', 'Q17', 'Q07', 'Q07', 'P3', 'P3']
    >>> normalize_id("Q51")
    Traceback (most recent call last):
    ...
    coach.errors.BadInput: unknown handbook id 'Q51': questions are Q01..Q50 (Q17, q17 or 17), part intros P1..P9
    """  # noqa: E501 - a doctest's expected output is one line
    match = _ID.fullmatch(ref.strip().upper()) if isinstance(ref, str) else None
    if match:
        kind, number = match.group(1) or "Q", int(match.group(2))
        if kind == "Q" and 1 <= number <= QUESTION_COUNT:
            return f"Q{number:02d}"
        if kind == "P" and 1 <= number <= PART_COUNT:
            return f"P{number}"
    raise BadInput(
        f"unknown handbook id {ref!r}: questions are Q01..Q{QUESTION_COUNT} (Q17, q17 or 17), "
        f"part intros P1..P{PART_COUNT}"
    )


# --------------------------------------------------------------------------- loading


def load_handbook(path: str | Path | None = None) -> Handbook:
    """Read and parse a handbook; its table overlay is the `table_overlay.json` beside it.

    The default (the repository's corpus/handbook.txt) is parsed once per process.
    """
    if path is None:
        return _load_default()
    return _load(Path(path))


@lru_cache(maxsize=1)
def _load_default() -> Handbook:
    return _load(DEFAULT_HANDBOOK)


def _load(path: Path) -> Handbook:
    text = _read_text(path)
    overlay_path = path.with_name(OVERLAY_NAME)
    return parse_handbook(text, load_overlay(overlay_path, text.splitlines()))


def corpus_hash(path: str | Path | None = None) -> str:
    """sha256 over the handbook, its overlay and PARSE_VERSION: an index built from another
    value is stale."""
    handbook = Path(path) if path is not None else DEFAULT_HANDBOOK
    digest = hashlib.sha256(f"parse-v{PARSE_VERSION}\0".encode())
    for file in (handbook, handbook.with_name(OVERLAY_NAME)):
        digest.update(_read_bytes(file))
        digest.update(b"\0")  # so moving bytes from one file to the other changes the hash
    return digest.hexdigest()


def load_overlay(path: Path, source_lines: list[str]) -> dict[int, tuple[str, ...]]:
    """Read the table overlay and check every entry against the handbook's current lines."""
    try:
        return check_overlay(json.loads(_read_text(path))["lines"], source_lines, str(path))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SetupError(
            f"{path} is not a valid table overlay ({exc!r}); restore it from the repository"
        ) from exc


def check_overlay(
    entries: Iterable[Mapping], source_lines: list[str], where: str = OVERLAY_NAME
) -> dict[int, tuple[str, ...]]:
    """Map line number -> cells, after checking each entry still matches the source line and
    its cells are a pure split of it.

    >>> check_overlay([{"line": 1, "text": "AB", "cells": ["A", "B"]}], ["AB"])
    {1: ('A', 'B')}
    """
    cells_by_line: dict[int, tuple[str, ...]] = {}
    for entry in entries:
        number, text, cells = entry["line"], entry["text"], tuple(entry["cells"])
        actual = source_lines[number - 1] if 1 <= number <= len(source_lines) else None
        if actual != text:
            raise SetupError(
                f"{where} is stale: it expects line {number} to read {text!r} but the handbook "
                f"has {actual!r}. Re-check that table's cells and update the overlay."
            )
        if "".join(cells) != text:
            raise SetupError(f"{where}: the cells of line {number} do not join to its text")
        cells_by_line[number] = cells
    return cells_by_line


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SetupError(
            f"{path} is missing: it is part of the repository, restore it (git checkout -- corpus)"
        ) from None
    except OSError as exc:
        raise SetupError(f"cannot read {path}: {exc.strerror}") from exc


def _read_text(path: Path) -> str:
    data = _read_bytes(path)
    try:
        # utf-8-sig: a byte-order mark from an editor is harmless, drop it.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SetupError(
            f"{path} is not UTF-8 text (invalid byte at offset {exc.start}: {exc.reason}); "
            "re-save it as UTF-8 or restore it from the repository"
        ) from exc


# --------------------------------------------------------------------------- parsing


def parse_handbook(text: str, overlay: Mapping[int, tuple[str, ...]]) -> Handbook:
    """Parse the handbook text; `overlay` maps table line numbers to their cells."""
    lines: list[Line] = list(enumerate(text.splitlines(), start=1))
    headings = _headings(lines)
    _expect(bool(headings) and headings[0][1] == "part", 1, "no part page before the questions")
    front = lines[: headings[0][0] - 1]
    part_titles, part_ranges, titles = _contents(front)

    parts: list[Part] = []
    questions: list[Question] = []
    back: list[Line] = []
    tables_seen: set[int] = set()
    ends = [start - 1 for start, _, _ in headings[1:]] + [len(lines)]
    for (start, kind, number), end in zip(headings, ends, strict=True):
        span = lines[start - 1 : end]
        if kind == "part":
            _expect(number == len(parts) + 1, start, f"expected part {len(parts) + 1}")
            in_contents = number in part_titles and number in part_ranges
            _expect(in_contents, start, f"part {number} or its range is not in the contents")
            parts.append(_part(span, number, part_titles[number], part_ranges[number]))
        else:
            _expect(number == len(questions) + 1, start, f"expected Q{len(questions) + 1:02d}")
            _expect(number in titles, start, f"Q{number:02d} is not in the contents")
            is_last = number == QUESTION_COUNT
            question, back, table_lines = _question(
                span, titles[number], parts[-1], overlay, is_last
            )
            questions.append(question)
            tables_seen.update(table_lines)

    _expect(len(parts) == PART_COUNT, len(lines), f"found {len(parts)} parts")
    _expect(len(questions) == QUESTION_COUNT, len(lines), f"found {len(questions)} questions")
    stray = sorted(set(overlay) - tables_seen)
    _expect(not stray, stray[0] if stray else 0, "the table overlay names a line outside questions")
    return Handbook(
        front_matter=_section("front matter", front),
        parts=tuple(parts),
        questions=tuple(questions),
        back_matter=_section("back matter", back),
    )


def _headings(lines: list[Line]) -> list[tuple[int, str, int]]:
    """(line number, "part"|"question", number) for every page heading, in order."""
    found = []
    for number, text in lines:
        if match := _QUESTION_HEADING.fullmatch(text):
            found.append((number, "question", int(match.group(1))))
        elif (match := _PART_HEADING.fullmatch(text)) and match.group(1).lower() in _PART_NUMBERS:
            found.append((number, "part", _PART_NUMBERS[match.group(1).lower()]))
    return found


def _contents(front: list[Line]) -> tuple[dict[int, str], dict[int, range], dict[int, str]]:
    """Part titles, part question ranges and question titles from the contents page.

    >>> _contents([(1, "Part 1 — LLM Foundations"), (2, "Q1–2"), (3, "01What is an LLM?"),
    ...            (4, "02Modern vs classic")])
    ({1: 'LLM Foundations'}, {1: range(1, 3)}, {1: 'What is an LLM?', 2: 'Modern vs classic'})
    """
    part_titles: dict[int, str] = {}
    part_ranges: dict[int, range] = {}
    titles: dict[int, str] = {}
    current_part = None
    for number, text in front:
        if match := _CONTENTS_PART.fullmatch(text):
            current_part = int(match.group(1))
            part_titles[current_part] = match.group(2).strip()
        elif current_part is None:
            continue  # the cover also lists part titles and ranges; the contents is the source
        elif match := _CONTENTS_RANGE.fullmatch(text):
            part_ranges[current_part] = range(int(match.group(1)), int(match.group(2)) + 1)
        elif match := _CONTENTS_QUESTION.fullmatch(text):
            titles[int(match.group(1))] = match.group(2).strip()
            in_range = int(match.group(1)) in part_ranges.get(current_part, ())
            _expect(in_range, number, f"question outside the range of part {current_part}")
    return part_titles, part_ranges, titles


def _part(span: list[Line], number: int, title: str, questions: range) -> Part:
    heading, *rest = span
    blocks = _paragraph_groups(rest)
    _expect(bool(blocks), heading[0], "part page without a title")
    page_title = " ".join(text for _, text in blocks[0])
    _expect(page_title == title, heading[0], f"part title {page_title!r} != contents {title!r}")

    intro, topics = None, []
    for block in blocks[1:]:
        texts = [text for _, text in block]
        range_at = next((i for i, t in enumerate(texts) if _PART_RANGE.fullmatch(t)), None)
        if range_at is not None:
            first, last = map(int, _PART_RANGE.fullmatch(texts[range_at]).groups())
            _expect(range(first, last + 1) == questions, block[range_at][0], "wrong range")
        for i, text in enumerate(texts):
            if _TOPIC_SPLIT.match(text):
                topics += _split_topics(text)
            elif range_at is not None and i >= range_at:
                pass  # the range line and the byline after it are page furniture
            elif intro is None and len(block) == 1:
                intro = text
            else:
                topics.append(text)  # tag lines, as on the last part's page
    _expect(intro is not None, heading[0], "part page without an intro paragraph")
    return Part(
        id=f"P{number}",
        number=number,
        title=title,
        intro=intro,
        topics=tuple(topics),
        question_ids=tuple(f"Q{n:02d}" for n in questions),
        lines=_numbers(span),
    )


def _split_topics(text: str) -> list[str]:
    """Split a part page's topics line into its labels.

    >>> _split_topics("Q1 — What is an LLM? Q2 — Modern vs Classic Q4 — GPT-3 → GPT-4")
    ['What is an LLM?', 'Modern vs Classic', 'GPT-3 → GPT-4']
    """
    return [topic for topic in _TOPIC_SPLIT.split(text) if topic]


def _question(
    span: list[Line],
    title: str,
    part: Part,
    overlay: Mapping[int, tuple[str, ...]],
    is_last: bool,
) -> tuple[Question, list[Line], set[int]]:
    """Parse one question page; also return what follows its tip (the back matter, if last)
    and the line numbers its tables were built from."""
    (start, heading), *rest = span
    number = int(heading[1:])
    content = [line for line in rest if line[1].strip()]
    _expect(len(content) >= 3, start, "question page without question, body and tip")
    sentence_at = rest.index(content[0])
    # The tip is the last `→` line: diagrams also use arrows, but never after the tip.
    labels = [i for i, (_, text) in enumerate(rest) if text.startswith(TIP_MARK)]
    _expect(bool(labels), start, f"question without a tip ('{TIP_MARK} Label' line)")
    label_at = labels[-1]
    tip_at = label_at + 1
    _expect(tip_at < len(rest) and rest[tip_at][1].strip() != "", start, "tip without text")
    # Tips are one paragraph, and the source puts a paragraph on one line; so any text after
    # the tip line is the back matter (last question) or a layout change we must not guess at.
    after = [line for line in rest[tip_at + 1 :] if line[1].strip()]
    _expect(is_last or not after, after[0][0] if after else 0, "text after a question's tip")

    question_lines = rest[: tip_at + 1]
    body = rest[sentence_at + 1 : label_at]
    blocks = _body_blocks(body, overlay)
    question = Question(
        id=f"Q{number:02d}",
        number=number,
        title=title,
        question=content[0][1].strip(),
        part=part.id,
        body="\n\n".join(_block_markdown(block) for block in blocks),
        tables=tuple(block for block in blocks if isinstance(block, Table)),
        tip_label=rest[label_at][1].removeprefix(TIP_MARK).strip(),
        tip=rest[tip_at][1].strip(),
        lines=(start, *_numbers(question_lines)),
        blocks=tuple(blocks),
    )
    _expect(question.id in part.question_ids, start, f"{question.id} is not in {part.id}")
    return question, rest[tip_at + 1 :], {n for n, _ in body if n in overlay}


def _body_blocks(body: list[Line], overlay: Mapping[int, tuple[str, ...]]) -> list[Block]:
    """Paragraphs, diagrams and tables of an answer body.

    A blank-separated group of one line is a paragraph. Table rows are the overlay's lines, a
    table being a run of them. Other lines in longer groups are diagram labels, and diagram
    runs with only blank lines between them are one figure (figures contain blank lines).

    >>> _body_blocks([(1, "Intro."), (2, ""), (3, "Fig"), (4, "a"), (5, ""), (6, "b"),
    ...               (7, "AB"), (8, "CD")], {7: ("A", "B"), 8: ("C", "D")})
    [Paragraph(text='Intro.'), Diagram(items=('Fig', 'a', 'b')), Table(header=('A', 'B'), rows=(('C', 'D'),))]
    """  # noqa: E501 - a doctest's expected output is one line
    blocks: list[Block] = []
    for group in _paragraph_groups(body):
        if len(group) == 1 and group[0][0] not in overlay:
            blocks.append(Paragraph(group[0][1].strip()))
            continue
        for is_table, run in _runs(group, lambda line: line[0] in overlay):
            if is_table:
                blocks.append(_table([overlay[n] for n, _ in run], run[0][0]))
            elif blocks and isinstance(blocks[-1], Diagram):
                blocks[-1] = Diagram(blocks[-1].items + tuple(t.strip() for _, t in run))
            else:
                blocks.append(Diagram(tuple(text.strip() for _, text in run)))
    return blocks


def _table(rows: list[tuple[str, ...]], first_line: int) -> Table:
    # Cells are used as the overlay gives them: exact slices of the source line, no stripping
    # (tests/test_parse.py checks that no cell has spaces at its edges).
    header, *body = rows
    for offset, row in enumerate(body, start=1):
        _expect(len(row) == len(header), first_line + offset, "row width != header width")
    _expect(all(header[1:]), first_line, "empty header cell (only the corner may be empty)")
    return Table(header=header, rows=tuple(body))


# --------------------------------------------------------------------------- small helpers


def _paragraph_groups(lines: list[Line]) -> list[list[Line]]:
    """Split lines into groups separated by blank lines.

    >>> _paragraph_groups([(1, "a"), (2, ""), (3, "b"), (4, "c"), (5, " ")])
    [[(1, 'a')], [(3, 'b'), (4, 'c')]]
    """
    return [list(run) for blank, run in _runs(lines, lambda line: not line[1].strip()) if not blank]


def _runs(items: list, key) -> list[tuple[bool, list]]:
    """Maximal runs of consecutive items with the same key.

    >>> _runs([1, 3, 4, 5], lambda n: n % 2 == 0)
    [(False, [1, 3]), (True, [4]), (False, [5])]
    """
    runs: list[tuple[bool, list]] = []
    for item in items:
        if runs and runs[-1][0] == key(item):
            runs[-1][1].append(item)
        else:
            runs.append((key(item), [item]))
    return runs


def _numbers(lines: list[Line]) -> tuple[int, ...]:
    return tuple(number for number, text in lines if text.strip())


def _section(name: str, lines: list[Line]) -> Section:
    content = [(n, text) for n, text in lines if text.strip()]
    return Section(name=name, text="\n".join(text for _, text in content), lines=_numbers(lines))


def _markdown_row(cells: tuple[str, ...]) -> str:
    # A pipe inside a cell (P(y|x), KL(P||Q)) would start a new column.
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _markdown_line(text: str) -> str:
    r"""Escape a leading character markdown would read as syntax (a heading, a list, a quote).

    >>> _markdown_line("# Examples (few-shot)"), _markdown_line("1. Parallelization")
    ('\\# Examples (few-shot)', '1. Parallelization')
    """
    return "\\" + text if text[:1] in ("#", "+", "-", "*", ">", "=", "|") else text


def _block_markdown(block: Block) -> str:
    if isinstance(block, Table):
        return block.to_markdown()
    if isinstance(block, Diagram):
        return "Diagram:\n" + "\n".join(f"- {_markdown_line(item)}" for item in block.items)
    return _markdown_line(block.text)


def _block_text(block: Block) -> str:
    if isinstance(block, Table):
        return block.to_text()
    if isinstance(block, Diagram):
        return "\n".join(block.items)
    return block.text


def _expect(condition: bool, line: int, problem: str) -> None:
    if not condition:
        raise SetupError(
            f"handbook line {line}: {problem}. The handbook's layout changed; fix the text or "
            "the parser (coach/handbook/parse.py) and the table overlay"
        )
