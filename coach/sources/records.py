"""The records that flow through ingestion: a read `Document`, its `Heading`s, its `Section`s.

A span is always `[start, end)` into `Document.text`, the file's canonical text (decoded, or
extracted for HTML and PDF), so `text == document.text[start:end]` holds for every section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    """A heading found in a document: `start`/`end` cover the whole heading line(s)."""

    level: int  # 1..6, as in Markdown `#`..`######` and HTML h1..h6
    title: str
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """One file read and checked: the text every span points into, plus how it was obtained."""

    path: Path  # absolute
    source: str  # relative to what the user passed, e.g. "notes/ml.md"
    kind: str  # "markdown" | "text" | "html" | "pdf"
    text: str
    sha256: str  # of the file's bytes: identical files are skipped on re-add
    size: int  # bytes on disk
    replacements: int = 0  # invalid UTF-8 sequences replaced by U+FFFD
    headings: tuple[Heading, ...] = field(default=())


@dataclass(frozen=True)
class Section:
    """One retrievable piece of a collection, with where it came from.

    `id` is collection-local ("s1", "s2", ... in document order, files in the order they were
    first added); `heading_path` runs from the outermost heading down, e.g.
    ("Guide", "Install", "Linux"); `question_like` marks one question with its answer.
    """

    id: str
    source: str
    path: str  # absolute path of the file, as a string so the record is plain JSON
    heading_path: tuple[str, ...]
    title: str
    text: str
    start: int
    end: int
    question_like: bool = False

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "source": self.source,
            "path": self.path,
            "heading_path": list(self.heading_path),
            "title": self.title,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "question_like": self.question_like,
        }

    @classmethod
    def from_json(cls, obj: dict) -> Section:
        return cls(
            id=obj["id"],
            source=obj["source"],
            path=obj["path"],
            heading_path=tuple(obj["heading_path"]),
            title=obj["title"],
            text=obj["text"],
            start=int(obj["start"]),
            end=int(obj["end"]),
            question_like=bool(obj["question_like"]),
        )
