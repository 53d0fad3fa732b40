"""Cutting a `Document` into `Section`s from its structure.

In order of preference:
1. headings (Markdown `#`/setext, HTML h1-h6): one block per heading, from its line to the next
   heading, with the heading path down to it; text before the first heading is a block too;
2. inside a block, a question list: "Q:"/"Question 3:" lines, a label line ("Q07", "Question 7")
   with the question ending in "?" on the next non-blank line (how PDF question banks come
   out of text extraction), or numbered items ending in "?", at least two of them, the form
   with most questions winning; each question with its answer (up to the next question) is one
   question-like section, and the block's text before the first question is a section of its
   own. A heading that is itself a question ("## What is RAG?") makes its block question-like;
3. fixed-size windows (windows.py) for what is left, so a long heading block or an unstructured
   file becomes overlapping windows that keep their heading path.
A question with its answer stays whole up to MAX_QUESTION_CHARS: the rubric step needs all of
it; past that it is windowed like any other text. Every section is trimmed of surrounding
whitespace and `text == document.text[start:end]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from coach.sources.markdown import clean_title
from coach.sources.records import Document, Heading, Section
from coach.sources.windows import WINDOW_CHARS, trim, windows

# Four windows: a long answer, but still one question's answer, not a chapter.
MAX_QUESTION_CHARS = 4 * WINDOW_CHARS
# Titles are labels in lists and citations; the full text is in the section.
MAX_TITLE_CHARS = 120
# Two make a list; one "Q:" line in prose is just prose.
MIN_QUESTIONS = 2

_MARKUP = r"(?:\*\*|__)?"
_QA_LINE = re.compile(
    rf"^[ \t]*(?:[-*+][ \t]+)?{_MARKUP}(?:Q|Question)[ \t]*\d*[ \t]*[:.)]{_MARKUP}"
    r"[ \t]*(?P<q>\S.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_LABELLED_QUESTION = re.compile(
    rf"^[ \t]*{_MARKUP}(?:Q|Question)[ \t]*\d{{1,3}}[ \t]*[:.)]?{_MARKUP}[ \t]*\n"
    r"(?:[ \t]*\n){0,2}[ \t]*(?P<q>[^\n]*\?)[ \t*_\"')]*$",
    re.IGNORECASE | re.MULTILINE,
)
_NUMBERED_QUESTION = re.compile(
    rf"^[ \t]*{_MARKUP}\d{{1,3}}[.)][ \t]+(?P<q>[^\n]*\?)[ \t*_\"')]*$", re.MULTILINE
)


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    heading_path: tuple[str, ...]
    title: str
    question_like: bool = False


def short_title(text: str) -> str:
    """A one-line label of at most MAX_TITLE_CHARS characters.

    >>> short_title("**What is   RAG?**")
    'What is RAG?'
    """
    title = clean_title(text)
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return title


def _windowed(text: str, start: int, end: int, path: tuple[str, ...], title: str) -> list[_Piece]:
    spans = windows(text, start, end)
    if len(spans) == 1:
        return [_Piece(*spans[0], path, title)]
    n = len(spans)
    return [_Piece(a, b, path, f"{title} ({i}/{n})") for i, (a, b) in enumerate(spans, 1)]


def _question(text: str, start: int, end: int, path: tuple[str, ...], title: str) -> list[_Piece]:
    start, end = trim(text, start, end)
    if end - start > MAX_QUESTION_CHARS:
        return _windowed(text, start, end, path, title)
    return [_Piece(start, end, path, title, question_like=True)]


def question_starts(text: str, start: int, end: int) -> list[re.Match]:
    """The question lines of text[start:end] if they form a list ("Q:" lines first, else
    numbered questions), else [].

    >>> [m["q"] for m in question_starts("Q: Why?\\nA: Yes.\\nQ: How?\\nA: So.", 0, 31)]
    ['Why?', 'How?']
    >>> [m["q"] for m in question_starts("Q07\\n\\nWhy?\\nYes.\\nQ08\\nHow?\\nSo.", 0, 27)]
    ['Why?', 'How?']
    >>> [m["q"] for m in question_starts("1. Install it.\\n2. Why bother?\\n", 0, 30)]
    []
    """
    # The form with the most questions wins (ties: in that order): a question bank quoting a
    # two-line "Q:/A:" example inside one of its fifty answers is still a list of fifty.
    found = [
        list(p.finditer(text, start, end))
        for p in (_QA_LINE, _LABELLED_QUESTION, _NUMBERED_QUESTION)
    ]
    best = max(found, key=len)
    return best if len(best) >= MIN_QUESTIONS else []


def _split_block(
    text: str, head: int, body: int, end: int, path: tuple[str, ...], title: str
) -> list[_Piece]:
    """Pieces of one block: text[head:end], whose own heading (if any) is text[head:body]."""
    questions = question_starts(text, body, end)
    if not questions:
        if title.endswith("?") and body > head:
            return _question(text, head, end, path, title)
        return _windowed(text, head, end, path, title)
    pieces: list[_Piece] = []
    if trim(text, body, questions[0].start())[0] < questions[0].start():
        pieces += _windowed(text, head, questions[0].start(), path, title)
    bounds = [m.start() for m in questions[1:]] + [end]
    for m, stop in zip(questions, bounds, strict=True):
        pieces += _question(text, m.start(), stop, path, short_title(m["q"]))
    return pieces


def _blocks(doc: Document) -> list[tuple[int, int, int, tuple[str, ...], str]]:
    """(head, body, end, heading path, title) of each block with text beyond its heading."""
    stem = PurePosixPath(doc.source).stem
    text, heads = doc.text, doc.headings
    if not heads:
        return [(0, 0, len(text), (), stem)]
    blocks = [(0, 0, heads[0].start, (), stem)]
    stack: list[Heading] = []
    for i, h in enumerate(heads):
        while stack and stack[-1].level >= h.level:
            stack.pop()
        stack.append(h)
        end = heads[i + 1].start if i + 1 < len(heads) else len(text)
        blocks.append((h.start, h.end, end, tuple(s.title for s in stack), h.title))
    return [b for b in blocks if trim(text, b[1], b[2])[0] < b[2]]


def split_document(doc: Document) -> list[Section]:
    """The sections of one document, ids "s1", "s2", ... in document order."""
    pieces: list[_Piece] = []
    for head, body, end, path, title in _blocks(doc):
        pieces += _split_block(doc.text, head, body, end, path, title)
    return [
        Section(
            id=f"s{i}",
            source=doc.source,
            path=str(doc.path),
            heading_path=p.heading_path,
            title=p.title,
            text=doc.text[p.start : p.end],
            start=p.start,
            end=p.end,
            question_like=p.question_like,
        )
        for i, p in enumerate(pieces, 1)
    ]
