"""Adding files to a collection: find them, skip what is already there, read and section the
rest, renumber, commit.

A file is known by its absolute path. Re-adding it unchanged (same sha256) skips it; changed,
its sections replace the old ones in place; a file identical to another one in the collection
is skipped as a duplicate, so search never sees the same passage twice. Files named on the
command line must all be readable or nothing is written; files found by walking a folder that
cannot be read are reported as rejected and the others are added, because one stray scanned
PDF should not block a folder of notes.
Section ids are renumbered "s1".."sN" over the whole collection (files in the order they were
first added, sections in document order), so identical input gives identical ids; updating a
file whose section count changed shifts the ids of the files added after it.
Leaves out: indexing the sections for search.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from coach.config import Config
from coach.errors import BadInput
from coach.sources.names import check_name
from coach.sources.read import SUPPORTED, read_document, supported_list
from coach.sources.records import Section
from coach.sources.sections import split_document
from coach.sources.store import (
    FileEntry,
    collection_lock,
    exists,
    load_sections,
    read_manifest,
    write_collection,
)


@dataclass(frozen=True)
class Found:
    """A file to add: `source` is its path relative to what the user passed."""

    path: Path
    source: str
    walked: bool  # found inside a folder rather than named by the user


@dataclass(frozen=True)
class AddSummary:
    name: str
    added: tuple[str, ...]
    updated: tuple[str, ...]
    skipped: tuple[dict, ...]  # {"source", "reason"}: unchanged or a duplicate
    rejected: tuple[dict, ...]  # {"source", "error"}: files in a folder that could not be read
    files: int  # in the collection afterwards
    sections: int  # in the collection afterwards
    replacements: int  # invalid UTF-8 sequences replaced in the files read this time
    seconds: float

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "added": list(self.added),
            "updated": list(self.updated),
            "skipped": list(self.skipped),
            "rejected": list(self.rejected),
            "files": self.files,
            "sections": self.sections,
            "replacements": self.replacements,
            "seconds": self.seconds,
        }


def find_files(paths: Iterable[Path]) -> list[Found]:
    """The files to add, in a deterministic order: named files as given, each folder's
    supported files sorted by path (hidden files and folders left out)."""
    found: list[Found] = []
    seen: set[Path] = set()
    for given in paths:
        if not given.exists():
            raise BadInput(f"No such file or folder: {given}. Fix: check the path.")
        if not given.is_dir():
            candidates = [(given.resolve(), given.name, False)]
        else:
            root = given.resolve()
            candidates = []
            for folder, dirs, files in os.walk(root):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for f in files:
                    if not f.startswith(".") and Path(f).suffix.lower() in SUPPORTED:
                        path = Path(folder) / f
                        source = f"{root.name}/{path.relative_to(root).as_posix()}"
                        candidates.append((path, source, True))
            if not candidates:
                raise BadInput(f"{given} has no {supported_list()} files. Fix: check the folder.")
            candidates.sort(key=lambda c: c[1])
        for path, source, walked in candidates:
            if path not in seen:
                seen.add(path)
                found.append(Found(path, source, walked))
    return found


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def renumber(sections: Iterable[Section]) -> list[Section]:
    return [dataclasses.replace(s, id=f"s{i}") for i, s in enumerate(sections, 1)]


def add(
    cfg: Config,
    name: str,
    paths: Iterable[Path],
    progress: Callable[[str], None] | None = None,
) -> AddSummary:
    """Add files and folders to collection `name` (created if new); one progress line a file."""
    check_name(name)
    with collection_lock(cfg, name):
        return _add(cfg, name, paths, progress)


def _add(cfg, name, paths, progress) -> AddSummary:
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    found = find_files(paths)
    entries: dict[str, FileEntry] = {}
    by_file: dict[str, list[Section]] = {}
    if exists(cfg, name):
        entries = {f.path: f for f in read_manifest(cfg, name).files}
        for s in load_sections(cfg, name):
            by_file.setdefault(s.path, []).append(s)
    by_sha = {e.sha256: e.path for e in entries.values()}
    added: list[str] = []
    updated: list[str] = []
    skipped: list[dict] = []
    rejected: list[dict] = []
    replacements = 0
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for i, f in enumerate(found, 1):
        key, prefix = str(f.path), f"[{i}/{len(found)}] {f.source}"
        try:
            sha = file_sha256(f.path)
            if key in entries and entries[key].sha256 == sha:
                skipped.append({"source": f.source, "reason": "unchanged"})
                say(f"{prefix}: unchanged, skipped")
                continue
            if key not in entries and sha in by_sha:
                twin = entries[by_sha[sha]].source
                skipped.append({"source": f.source, "reason": f"duplicate of {twin}"})
                say(f"{prefix}: same content as {twin}, skipped")
                continue
            doc = read_document(f.path, f.source)
        except (BadInput, OSError) as exc:
            error = exc if isinstance(exc, BadInput) else BadInput(f"Cannot read {f.source}: {exc}")
            if not f.walked:
                raise error from None
            rejected.append({"source": f.source, "error": error.message})
            say(f"{prefix}: rejected: {error.message}")
            continue
        sections = split_document(doc)
        if key in entries:
            updated.append(f.source)
            by_sha.pop(entries[key].sha256, None)
        else:
            added.append(f.source)
        entries[key] = FileEntry(
            source=doc.source,
            path=key,
            kind=doc.kind,
            sha256=doc.sha256,
            size=doc.size,
            added_at=now,
            sections=len(sections),
            replacements=doc.replacements,
        )
        by_file[key] = sections
        by_sha[doc.sha256] = key
        replacements += doc.replacements
        n = doc.replacements
        note = f", {n} invalid UTF-8 sequence(s) replaced as U+FFFD" if n else ""
        say(f"{prefix}: {len(sections)} sections{note}")
    if not entries:
        raise BadInput(
            f"Nothing could be added to {name!r}: {rejected[0]['error']}"
            + (f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else "")
        )
    if added or updated:
        sections = renumber(s for path in entries for s in by_file.get(path, []))
        write_collection(cfg, name, list(entries.values()), sections, now)
    total = sum(e.sections for e in entries.values())
    return AddSummary(
        name=name,
        added=tuple(added),
        updated=tuple(updated),
        skipped=tuple(skipped),
        rejected=tuple(rejected),
        files=len(entries),
        sections=total,
        replacements=replacements,
        seconds=round(time.perf_counter() - started, 3),
    )
