"""Question references: a handbook question ("Q17", "q17", "17") or a section of one of the
user's collections ("pytut:s67"), as sessions, grades and the progress store keep them."""

from __future__ import annotations

import re

from coach.handbook import normalize_id

# A collection name (coach/sources/names.py: a-z, 0-9, "_", "-") and a section id.
_SECTION_REF = re.compile(r"([a-z0-9][a-z0-9_-]{0,39}):(s[1-9]\d*)")


def normalize_ref(ref: object) -> str:
    """The canonical form of a question reference; BadInput for anything else.

    >>> [normalize_ref(r) for r in ["q7", " pytut:s67 ", "handbook:Q17"]]
    ['Q07', 'pytut:s67', 'Q17']
    """
    if isinstance(ref, str):
        text = ref.strip()
        if text.lower().startswith("handbook:"):
            return normalize_id(text.split(":", 1)[1])
        if match := _SECTION_REF.fullmatch(text):
            return f"{match[1]}:{match[2]}"
    return normalize_id(ref)


def collection_of(ref: str) -> str | None:
    """The collection a normalized reference belongs to (None: the handbook).

    >>> collection_of("pytut:s67"), collection_of("Q17")
    ('pytut', None)
    """
    name, sep, _ = ref.partition(":")
    return name if sep else None
