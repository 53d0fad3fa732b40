"""Structure-aware chunking of the parsed handbook.

A chunk never mixes two sections, never splits a table, and always starts with its section's
title and question, so each chunk can be retrieved and read on its own. Part intros are one
chunk each. Leaves out: embedding and indexing (coach/search/index.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from coach.handbook.parse import Block, Diagram, Handbook, Paragraph, Part, Question, Table

# ~120 words of content plus the header stays under MiniLM's 256-token window.
MAX_WORDS = 120
CHUNK_VERSION = "1"


@dataclass(frozen=True)
class Chunk:
    id: str  # "Q14#2"
    question_id: str  # "Q14" or "P3"
    part: str  # "P3"
    title: str
    text: str  # header + content: what is embedded, searched and shown as a passage
    position: int  # 0-based order within its section


def _block_text(block: Block) -> str:
    if isinstance(block, Table):
        return block.to_text()
    if isinstance(block, Diagram):
        return "Diagram: " + " / ".join(block.items)
    if isinstance(block, Paragraph):
        return block.text
    raise TypeError(f"unknown block {block!r}")


def pack(pieces: list[str], max_words: int = MAX_WORDS) -> list[str]:
    """Greedily pack pieces (never split) into groups of at most `max_words` words.

    A piece longer than the budget gets a group of its own.

    >>> pack(["a b", "c", "d e f", "g"], max_words=3)
    ['a b\\nc', 'd e f', 'g']
    >>> pack([])
    []
    """
    groups: list[list[str]] = []
    words = 0
    for piece in pieces:
        n = len(piece.split())
        if groups and words + n <= max_words:
            groups[-1].append(piece)
            words += n
        else:
            groups.append([piece])
            words = n
    return ["\n".join(g) for g in groups]


def question_chunks(q: Question, max_words: int = MAX_WORDS) -> list[Chunk]:
    header = f"{q.id} {q.title}. {q.question}"
    pieces = [_block_text(b) for b in q.blocks]
    pieces.append(f"{q.tip_label}: {q.tip}")
    return [
        Chunk(f"{q.id}#{i}", q.id, q.part, q.title, f"{header}\n{body}", i)
        for i, body in enumerate(pack(pieces, max_words))
    ]


def part_chunk(p: Part) -> Chunk:
    text = f"{p.id} Part {p.number}: {p.title}\n{p.intro}\nTopics: {'; '.join(p.topics)}"
    return Chunk(f"{p.id}#0", p.id, p.id, p.title, text, 0)


def chunk_handbook(book: Handbook, max_words: int = MAX_WORDS) -> list[Chunk]:
    chunks = [part_chunk(p) for p in book.parts]
    for q in book.questions:
        chunks.extend(question_chunks(q, max_words))
    return chunks
