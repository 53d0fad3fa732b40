"""Fixed-size windows over a span of text, cut on paragraph, sentence or word boundaries.

Used where a document (or one of its sections) has no structure small enough to be a section on
its own. Pure functions over offsets: the caller slices the text, so spans stay exact.
"""

from __future__ import annotations

import re

# ~1,200 characters is about 250 tokens: a passage a reader takes in at a glance and that a
# small embedding model still sees whole once the retrieval step chunks it.
WINDOW_CHARS = 1200
# Enough for the sentence before a cut to appear in the next window too, so a fact split by
# the cut is still whole in one of them.
OVERLAP_CHARS = 200

# Each pattern ends exactly at a candidate cut: after the last word before a blank line, after
# a sentence's closing punctuation, after any word. The lookahead may read past the search
# window by up to _LOOKAHEAD characters.
_PARAGRAPH = re.compile(r"\S(?=[ \t]*\n[ \t]*\n)")
_SENTENCE = re.compile(r"[.!?][\"')\]]*(?=\s)")
_WORD = re.compile(r"\S(?=\s)")
_LOOKAHEAD = 64


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink a span past leading and trailing whitespace.

    >>> trim("  ab \\n", 0, 6)
    (2, 4)
    >>> trim("   ", 0, 3)
    (3, 3)
    """
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cuts(pattern: re.Pattern, text: str, lo: int, hi: int) -> list[int]:
    """Candidate cut positions p of one kind with lo < p <= hi."""
    found = pattern.finditer(text, lo, min(hi + _LOOKAHEAD, len(text)))
    return [m.end() for m in found if m.end() <= hi]


def _last_cut(text: str, lo: int, hi: int) -> int | None:
    """The last paragraph end in (lo, hi], else the last sentence end, else the last word end."""
    for pattern in (_PARAGRAPH, _SENTENCE, _WORD):
        cuts = _cuts(pattern, text, lo, hi)
        if cuts:
            return cuts[-1]
    return None


def _first_cut(text: str, lo: int, hi: int) -> int | None:
    """The first paragraph or sentence end in (lo, hi], else the first word end."""
    cuts = _cuts(_PARAGRAPH, text, lo, hi)[:1] + _cuts(_SENTENCE, text, lo, hi)[:1]
    if cuts:
        return min(cuts)
    words = _cuts(_WORD, text, lo, hi)
    return words[0] if words else None


def windows(
    text: str,
    start: int = 0,
    end: int | None = None,
    size: int = WINDOW_CHARS,
    overlap: int = OVERLAP_CHARS,
) -> list[tuple[int, int]]:
    """Cover text[start:end] with overlapping spans of about `size` characters.

    Each cut falls in the second half of its window, on the last paragraph break there, else
    the last sentence end, else the last space (a hard cut only inside one giant word). The
    next window starts at the first sentence start in the `overlap` characters before the cut,
    else at a word start there.
    A remainder up to a quarter over `size` stays whole rather than leave a scrap. Spans are
    trimmed of surrounding whitespace; an all-blank input gives none.

    >>> text = "One two. Three four. Five six. Seven eight."
    >>> [text[a:b] for a, b in windows(text, size=26, overlap=12)]
    ['One two. Three four.', 'Three four. Five six.', 'Five six. Seven eight.']
    >>> windows("short", size=20, overlap=8)
    [(0, 5)]
    """
    end = len(text) if end is None else end
    if not 0 <= overlap < size // 2:
        raise ValueError("overlap must be smaller than half the window size")
    spans: list[tuple[int, int]] = []
    pos = start
    while True:
        pos, stop = trim(text, pos, end)
        if pos >= stop:
            return spans
        if stop - pos <= size + size // 4:
            spans.append((pos, stop))
            return spans
        cut = _last_cut(text, pos + size // 2, pos + size)
        cut = pos + size if cut is None else cut
        spans.append(trim(text, pos, cut))
        # The next window starts after the first sentence that ends in the last `overlap`
        # characters of this one.
        nxt = _first_cut(text, cut - overlap - 1, cut - 1)
        pos = cut - overlap if nxt is None else nxt
