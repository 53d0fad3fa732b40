"""Reading one file into a `Document`: format by extension, checks, decoding, extraction.

Every refusal is a BadInput naming the file and saying what to do: an unknown extension, a
missing, empty or oversized file, a binary file renamed to a text extension, an unreadable or
scanned PDF. Text that is not valid UTF-8 is not refused: invalid bytes become U+FFFD and the
count is reported, so one stray Latin-1 byte never costs a user their file.
Leaves out: sectioning (sections.py) and storage (store.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from coach.errors import BadInput
from coach.sources.html_text import extract_html
from coach.sources.markdown import find_headings
from coach.sources.pdf import extract_pdf
from coach.sources.records import Document

SUPPORTED = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
# 50 MB is several thousand pages of text, far beyond any notes or question bank, and keeps
# one file's text, sections and JSON comfortably in memory on a small machine.
MAX_FILE_BYTES = 50_000_000
# Text has almost no control characters (ANSI-coloured logs a few percent); binary data has
# about one byte in nine in that range.
MAX_CONTROL_SHARE = 0.05
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"


def supported_list() -> str:
    return ", ".join(SUPPORTED)


def decode(data: bytes) -> tuple[str, int]:
    """UTF-8 text with invalid bytes replaced, and how many were; newlines become "\\n".

    >>> decode("café\\r\\n".encode())
    ('café\\n', 0)
    >>> decode(b"caf\\xe9 \\xef\\xbf\\xbd")  # Latin-1 é, then a genuine U+FFFD
    ('caf\\ufffd \\ufffd', 1)
    """
    text = data.decode("utf-8", errors="replace")
    replacements = text.count("\ufffd") - data.count("\ufffd".encode())
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return text, replacements


def binary_reason(data: bytes) -> str | None:
    """Why `data` is not text, or None if it looks like text.

    >>> binary_reason(b"plain text\\n"), binary_reason(b"PK\\x03\\x04\\x00")
    (None, 'it contains NUL bytes')
    """
    if b"\x00" in data:
        return "it contains NUL bytes"
    share = (len(data) - len(data.translate(None, _CONTROL))) / len(data)
    if share > MAX_CONTROL_SHARE:
        return f"{share:.0%} of its bytes are control characters"
    return None


def read_document(path: Path, source: str | None = None) -> Document:
    """Read and check one file; `source` is the name shown to the user (default: file name)."""
    path = path.absolute()
    source = source or path.name
    kind = SUPPORTED.get(path.suffix.lower())
    if kind is None:
        raise BadInput(
            f"{source}: unsupported file type {path.suffix or '(no extension)'!r}. Fix: add "
            f"one of {supported_list()} (save other formats as PDF or plain text first)."
        )
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BadInput(
                f"{source} is {size / 1e6:.0f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB "
                "per file. Fix: split it into smaller files and add those.",
                code="size_limit",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(
            f"Cannot read {source} ({exc.strerror or exc}). Fix: check the path and permissions."
        ) from exc
    if not data.strip():
        raise BadInput(f"{source} is empty. Fix: add a file with some text in it.", code="empty")
    replacements = 0
    headings = ()
    if kind == "pdf":
        text = extract_pdf(source, data)
    else:
        reason = binary_reason(data)
        if reason is not None:
            raise BadInput(
                f"{source} does not look like {kind} text: {reason}. Fix: add the original "
                "document instead (if it is UTF-16 text, save it as UTF-8)."
            )
        text, replacements = decode(data)
        if kind == "html":
            text, headings = extract_html(text)
        elif kind == "markdown":
            headings = find_headings(text)
    if not text.strip():
        raise BadInput(
            f"{source} has no visible text. Fix: add a file with some text in it.", code="empty"
        )
    return Document(
        path=path,
        source=source,
        kind=kind,
        text=text,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        replacements=replacements,
        headings=headings,
    )
