"""A handbook section as quotable statements: the units an answer is built from and checked
against.

A statement is one sentence of a paragraph (a sentence that leans on the one before it, "This
enabled ...", stays attached to it), one numbered or bulleted item, one table row read out with
its header ("Quality: Greedy — Locally optimal; Beam Search — Globally better sequences."), or one
sentence of the section's tip. Diagram labels are not statements: out of their figure they do
not read as sentences. Every statement keeps its section id and position, so an answer built
from statements cites by construction. Leaves out: choosing statements for a question
(coach/ask/compose.py) and checking a sentence against them (coach/ask/align.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from coach.handbook.parse import Handbook, Paragraph, Part, Question, Table, load_handbook

# A sentence ends at . ! ? followed by space and an upper-case letter, a digit or a quote; "e.g."
# and "vs." do not end one.
_SENTENCE_END = re.compile(
    r"(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bet al)(?<=[.!?])\s+(?=[A-Z0-9\"'(])"
)
# Sentences that cannot stand alone: they point back at the previous one.
_LEANS_BACK = re.compile(
    r"^(?:This|That|These|Those|It|Its|They|Their|Them|Such|Here|Hence|Thus|So|Also|But|And|"
    r"Otherwise|Instead|However|Then|Therefore)\b"
)
_ITEM = re.compile(r"^(?:\d{1,2}[.)]|[-•*])\s+")


# Bump when the splitting rules change: the index stores one vector per statement.
STATEMENTS_VERSION = "2"  # 2: tables of parallel lists read per column


@dataclass(frozen=True)
class Statement:
    id: str  # "Q21.s4": section id, then the statement's position in the section
    section: str  # "Q21" or "P4"
    text: str  # as shown to the user
    kind: str  # "sentence", "item", "row", "tip", "intro", "lead"
    position: int


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph; a sentence that leans on the previous one joins it.

    >>> split_sentences("Parallel nature makes it scale. This enabled more data. RoPE rotates.")
    ['Parallel nature makes it scale. This enabled more data.', 'RoPE rotates.']
    >>> split_sentences("Use e.g. top-p. Then stop.")
    ['Use e.g. top-p. Then stop.']
    """
    out: list[str] = []
    for piece in _SENTENCE_END.split(text.strip()):
        piece = piece.strip()
        if not piece:
            continue
        if out and _LEANS_BACK.match(piece):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def row_statement(header: tuple[str, ...], row: tuple[str, ...]) -> str:
    """A table row read out with its header (the row label alone names the row: "Scale", not
    "Dimension Scale").

    >>> row_statement(("", "Greedy", "Beam"), ("Speed", "O(V)", "O(B·V)"))
    'Speed: Greedy — O(V); Beam — O(B·V).'
    >>> row_statement(("Temperature", "Effect", "Use For"), ("T → 0", "Greedy decoding.", "QA"))
    'T → 0: Effect — Greedy decoding; Use For — QA.'
    """
    first = row[0]
    pairs = [f"{h} — {c.rstrip('.')}" for h, c in zip(header[1:], row[1:], strict=False) if c]
    return f"{first}: {'; '.join(pairs)}." if pairs else f"{first}."


def parallel_lists(header: tuple[str, ...]) -> bool:
    """A two-column table whose columns are opposite lists ("Helpful When" | "Not Helpful
    When"): its rows pair unrelated cells, so a row read with its first cell as a label would
    state the second column's case about the first's ("Math problems: Not Helpful When — ...").

    >>> parallel_lists(("Helpful When", "Not Helpful When"))
    True
    >>> parallel_lists(("Method", "How It Works"))
    False
    """
    if len(header) != 2:
        return False
    a, b = (h.strip().lower() for h in header)
    return b == f"not {a}" or {a, b} in ({"pros", "cons"}, {"advantages", "disadvantages"})


def column_statements(header: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> list[str]:
    """Each cell of a table of parallel lists as its own statement under its column's header.

    >>> column_statements(("Helpful When", "Not Helpful When"), (("Math", "Recall"),))
    ['Helpful when: Math.', 'Not helpful when: Recall.']
    """
    out = []
    for j, name in enumerate(header):
        label = name[:1].upper() + name[1:].lower()
        out += [f"{label}: {row[j].rstrip('.')}." for row in rows if j < len(row) and row[j]]
    return out


def _paragraph_statements(text: str) -> list[tuple[str, str]]:
    text = text.strip()
    if _ITEM.match(text):
        return [("item", _ITEM.sub("", text))]
    if text.endswith(":") and len(text.split()) <= 12:
        return [("lead", text)]
    return [("sentence", s) for s in split_sentences(text)]


def question_statements(q: Question) -> tuple[Statement, ...]:
    pieces: list[tuple[str, str]] = []
    for block in q.blocks:
        if isinstance(block, Paragraph):
            pieces += _paragraph_statements(block.text)
        elif isinstance(block, Table) and parallel_lists(block.header):
            pieces += [("row", text) for text in column_statements(block.header, block.rows)]
        elif isinstance(block, Table):
            pieces += [("row", row_statement(block.header, row)) for row in block.rows]
    pieces += [("tip", s) for s in split_sentences(q.tip)]
    return tuple(
        Statement(f"{q.id}.s{i}", q.id, text, kind, i) for i, (kind, text) in enumerate(pieces)
    )


def part_statements(p: Part) -> tuple[Statement, ...]:
    return tuple(
        Statement(f"{p.id}.s{i}", p.id, text, "intro", i)
        for i, text in enumerate(split_sentences(p.intro))
    )


@lru_cache(maxsize=2)
def statements_by_section(book: Handbook | None = None) -> dict[str, tuple[Statement, ...]]:
    """Every section's statements, by section id ("Q21", "P4")."""
    book = book or load_handbook()
    out = {q.id: question_statements(q) for q in book.questions}
    out.update({p.id: part_statements(p) for p in book.parts})
    return out
