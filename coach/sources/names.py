"""Collection names: a safe slug, because the name becomes a directory under COACH_HOME and a
namespace in search ids ("mynotes:s12")."""

from __future__ import annotations

import re
from pathlib import Path

from coach.errors import UsageError

MAX_NAME_CHARS = 40
# "handbook" is the built-in collection's namespace; a user collection must not shadow it.
RESERVED = frozenset({"handbook"})
# Lower-case letters, digits, "_" and "-", starting with a letter or digit: no "/", "." or
# "..", so a name can never leave the collections directory or look like a command-line flag.
_NAME = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MAX_NAME_CHARS - 1}}}")


def check_name(name: str) -> str:
    """`name` if it is a valid collection name, else UsageError saying what is allowed.

    >>> check_name("ml-notes_2")
    'ml-notes_2'
    """
    if name in RESERVED:
        raise UsageError(f"{name!r} is reserved for the built-in handbook. Fix: pick another name.")
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"Invalid collection name {name!r}. Fix: use 1-{MAX_NAME_CHARS} characters from "
            "a-z, 0-9, '_' and '-', starting with a letter or digit (e.g. --name ml-notes)."
        )
    return name


def default_name(path: Path) -> str:
    """The slug of a path's stem (a folder's name), for `coach add` without --name.

    >>> default_name(Path("My Notes (2024).md"))
    'my-notes-2024'
    """
    path = path.resolve()
    stem = path.name if path.is_dir() else path.stem
    slug = re.sub(r"[^a-z0-9_]+", "-", stem.lower()).strip("-_")[:MAX_NAME_CHARS].strip("-_")
    if not slug:
        raise UsageError(f"Cannot make a collection name from {path.name!r}. Fix: pass --name.")
    if slug in RESERVED:
        raise UsageError(f"{slug!r} is reserved for the built-in handbook. Fix: pass --name.")
    return slug
