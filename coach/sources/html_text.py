"""The visible text of an HTML page and its h1-h6 outline, with the standard library's parser.

Page chrome is left out: scripts and styles, the head, navigation (`<nav>`, `role="navigation"`,
class or id words such as "sidebar", "breadcrumb", "related"), footers, forms, hidden elements,
and the permalink marks after Sphinx headings. Blocks (paragraphs, list items, table rows,
headings) are joined by blank lines, so the sectioner and the window cutter see paragraph
breaks; whitespace inside a block is collapsed, except in `<pre>`. Headings are reported as
spans of the returned text. Leaves out: CSS-based visibility and anything rendered by scripts.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from coach.sources.records import Heading

_SKIP_TAGS = {
    "script", "style", "noscript", "template", "svg", "head", "nav", "footer",
    "form", "button", "select", "textarea", "iframe", "canvas", "object",
}  # fmt: skip
_CHROME_ROLES = {"navigation", "banner", "contentinfo", "search", "menu", "menubar", "toolbar"}
# Whole class/id words only: "nav" must not catch "canvas-notes".
_CHROME_WORDS = {
    "nav", "navbar", "navigation", "sidebar", "sphinxsidebar", "breadcrumb", "breadcrumbs",
    "menu", "footer", "related", "headerlink", "skip-link", "toc",
}  # fmt: skip
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
}  # fmt: skip
_BLOCK = {
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "header", "html", "li", "main", "ol",
    "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
    "h1", "h2", "h3", "h4", "h5", "h6",
}  # fmt: skip
_HEADING = re.compile(r"h([1-6])")


def _is_chrome(tag: str, attrs: dict[str, str | None]) -> bool:
    if tag in _SKIP_TAGS or "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    if (attrs.get("role") or "").lower() in _CHROME_ROLES:
        return True
    words = f"{attrs.get('class') or ''} {attrs.get('id') or ''}".lower().split()
    return any(w in _CHROME_WORDS for w in words)


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, int]] = []  # (text, heading level or 0)
        self.stack: list[list] = []  # open elements: [tag, list item counter]
        self.skip_from: int | None = None  # stack depth where a chrome element opened
        self.heading = 0
        self.pre = 0
        self.buf: list[str] = []
        # A list item's "- " or "3. ", put before the item's first block of text (the item's
        # text often sits in a nested <p>).
        self.marker = ""

    def flush(self) -> None:
        raw, self.buf = "".join(self.buf), []
        text = raw.strip("\n").rstrip() if self.pre else " ".join(raw.split())
        if text:
            self.blocks.append((self.marker + text, self.heading))
            self.marker = ""

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attr_list)
        if self.skip_from is not None:
            if tag not in _VOID:
                self.stack.append([tag, 0])
            return
        if _is_chrome(tag, attrs):
            if tag not in _VOID:
                self.skip_from = len(self.stack)
                self.stack.append([tag, 0])
            return
        if tag in _VOID:
            if tag in ("br", "hr") and not self.heading:
                self.flush()
            return
        if tag in _BLOCK and not self.heading:
            self.flush()
        if m := _HEADING.fullmatch(tag):
            self.heading = int(m.group(1))
        elif tag == "pre":
            self.pre += 1
        elif tag == "li":
            self.marker = self._item_marker()
        elif tag in ("td", "th"):
            self.buf.append(" ")
        start = attrs.get("start") or ""
        self.stack.append([tag, int(start) - 1 if tag == "ol" and start.isdigit() else 0])

    def _item_marker(self) -> str:
        for entry in reversed(self.stack):
            if entry[0] == "ol":
                entry[1] += 1
                return f"{entry[1]}. "
            if entry[0] == "ul":
                break
        return "- "

    def handle_endtag(self, tag: str) -> None:
        if not any(entry[0] == tag for entry in self.stack):
            return  # a stray end tag
        while self.stack:
            popped = self.stack.pop()[0]
            if self.skip_from is not None:
                if len(self.stack) <= self.skip_from:
                    self.skip_from = None
            elif popped == "pre":
                self.flush()
                self.pre -= 1
            elif _HEADING.fullmatch(popped) and self.heading:
                self.flush()
                self.heading = 0
            elif popped in _BLOCK and not self.heading:
                self.flush()
                if popped == "li":
                    self.marker = ""
            if popped == tag:
                return

    def handle_data(self, data: str) -> None:
        if self.skip_from is None:
            self.buf.append(data)


def extract_html(markup: str) -> tuple[str, tuple[Heading, ...]]:
    """Visible text (blocks joined by blank lines) and the headings as spans of it.

    >>> text, heads = extract_html(
    ...     "<nav>Home</nav><h1>Guide<a class='headerlink'>¶</a></h1><p>Hi <b>there</b>.</p>"
    ... )
    >>> text
    'Guide\\n\\nHi there.'
    >>> [(h.level, h.title, text[h.start:h.end]) for h in heads]
    [(1, 'Guide', 'Guide')]
    """
    parser = _Extractor()
    parser.feed(markup)
    parser.close()
    parser.flush()
    parts: list[str] = []
    headings: list[Heading] = []
    pos = 0
    for text, level in parser.blocks:
        if parts:
            parts.append("\n\n")
            pos += 2
        if level:
            headings.append(Heading(level, text, pos, pos + len(text)))
        parts.append(text)
        pos += len(text)
    return "".join(parts), tuple(headings)
