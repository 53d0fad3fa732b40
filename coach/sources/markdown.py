"""Markdown headings, found by a line scan (no Markdown library: only the outline is needed).

Finds ATX headings (`## Title`) and single-line setext headings (a line underlined with `===` or
`---`), and skips fenced code blocks, where `#` starts a comment, not a heading. Leaves out
everything else about Markdown: the section text is kept as written.
"""

from __future__ import annotations

import re

from coach.sources.records import Heading

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def clean_title(raw: str) -> str:
    """A heading's words without inline markup.

    >>> clean_title("The `for` **loop** and [links](http://x)")
    'The for loop and links'
    """
    return " ".join(re.sub(r"[`*_]", "", _LINK.sub(r"\1", raw)).split())


def find_headings(text: str) -> tuple[Heading, ...]:
    """Headings in document order, each spanning its line (and its underline, if setext).

    >>> [(h.level, h.title) for h in find_headings("# A\\n\\ntext\\n\\nB\\n---\\n```\\n# no\\n```")]
    [(1, 'A'), (2, 'B')]
    """
    headings: list[Heading] = []
    fence: str | None = None
    # The previous line when it is text (None after a blank line, a heading or a fence), and
    # whether it began a paragraph: only a one-line paragraph can be a setext title.
    prev: tuple[int, str, bool] | None = None
    pos = 0
    for line in text.splitlines(keepends=True):
        start, pos = pos, pos + len(line)
        body = line.rstrip("\r\n")
        m = _FENCE.match(body)
        if fence is not None or m:
            if fence is None:
                fence = m.group(1)
            elif m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            prev = None
            continue
        atx = _ATX.match(body)
        if atx and clean_title(atx.group(2)):
            headings.append(Heading(len(atx.group(1)), clean_title(atx.group(2)), start, pos))
            prev = None
            continue
        underline = _SETEXT.match(body)
        if (
            underline
            and prev is not None
            and prev[2]
            and clean_title(prev[1])
            and not _LIST_ITEM.match(prev[1])
        ):
            level = 1 if underline.group(1)[0] == "=" else 2
            headings.append(Heading(level, clean_title(prev[1]), prev[0], pos))
            prev = None
            continue
        prev = (start, body, prev is None) if body.strip() else None
    return tuple(headings)
