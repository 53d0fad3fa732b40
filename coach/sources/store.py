"""The collection store: `$COACH_HOME/collections/NAME/` holds manifest.json and one sections
file (JSON lines, one `Section` each).

Crash safety: every file is written to a temporary file in the same directory, fsynced, and
moved into place with os.replace. The sections file is named by its content hash and the
manifest names it, so the manifest is the single commit point: a kill at any moment leaves
either the previous manifest and its sections file or the new ones, never a mix. Files no
manifest refers to are cleaned up after the next commit.
`collection_lock` keeps two writers of one collection apart (the second is told, not queued).
Leaves out: reading and sectioning files (ingest.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import coach
from coach.config import Config
from coach.errors import BadInput, SetupError, UsageError
from coach.sources.names import check_name
from coach.sources.records import Section

MANIFEST = "manifest.json"
# Bumped when the manifest or section fields change incompatibly.
FORMAT = 1


@dataclass(frozen=True)
class FileEntry:
    """One file of a collection, as it was when its sections were made."""

    source: str
    path: str
    kind: str
    sha256: str
    size: int
    added_at: str  # when this version of the file was added (ISO 8601, UTC)
    sections: int
    replacements: int

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, obj: dict) -> FileEntry:
        return cls(**{f.name: obj[f.name] for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class Collection:
    """A collection's manifest."""

    name: str
    files: tuple[FileEntry, ...]
    sections: int
    built_at: str
    coach_version: str
    sections_file: str
    sections_sha256: str

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "name": self.name,
            "coach_version": self.coach_version,
            "built_at": self.built_at,
            "sections": self.sections,
            "sections_file": self.sections_file,
            "sections_sha256": self.sections_sha256,
            "files": [f.to_json() for f in self.files],
        }

    def summary(self) -> dict:
        """The row `coach collections` shows."""
        return {
            "name": self.name,
            "files": len(self.files),
            "sections": self.sections,
            "built_at": self.built_at,
        }

    @classmethod
    def from_json(cls, obj: dict) -> Collection:
        if obj["format"] != FORMAT:
            raise ValueError(f"format {obj['format']!r}, expected {FORMAT}")
        if not isinstance(obj["files"], list):
            raise TypeError("files is not a list")
        return cls(
            name=str(obj["name"]),
            files=tuple(FileEntry.from_json(f) for f in obj["files"]),
            sections=int(obj["sections"]),
            built_at=str(obj["built_at"]),
            coach_version=str(obj["coach_version"]),
            sections_file=Path(str(obj["sections_file"])).name,
            sections_sha256=str(obj["sections_sha256"]),
        )


def collections_root(cfg: Config) -> Path:
    return cfg.home / "collections"


def collection_dir(cfg: Config, name: str) -> Path:
    return collections_root(cfg) / check_name(name)


def _damaged(name: str, path: Path, why: object) -> SetupError:
    return SetupError(
        f"The collection {name!r} is damaged ({path}: {why}). Fix: remove it with "
        f"`coach remove {name}` and add its files again."
    )


def exists(cfg: Config, name: str) -> bool:
    return (collection_dir(cfg, name) / MANIFEST).is_file()


def read_manifest(cfg: Config, name: str) -> Collection:
    path = collection_dir(cfg, name) / MANIFEST
    if not path.is_file():
        raise BadInput(f"No collection named {name!r}. Fix: `coach collections` lists them.")
    try:
        collection = Collection.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise _damaged(name, path, exc) from exc
    if collection.name != name:
        raise _damaged(name, path, f"it names itself {collection.name!r}")
    return collection


def load_sections(cfg: Config, name: str) -> list[Section]:
    """Every section of a collection, in id order."""
    collection = read_manifest(cfg, name)
    path = collection_dir(cfg, name) / collection.sections_file
    try:
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != collection.sections_sha256:
            raise ValueError("its sha256 does not match the manifest")
        return [Section.from_json(json.loads(line)) for line in data.decode().splitlines()]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise _damaged(name, path, exc) from exc


def list_collections(cfg: Config) -> list[Collection]:
    """Every collection, by name. A directory without a manifest (a first add that was killed)
    is not a collection yet."""
    root = collections_root(cfg)
    if not root.is_dir():
        return []
    names = sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and p.is_dir())
    return [read_manifest(cfg, n) for n in names if (root / n / MANIFEST).is_file()]


@contextlib.contextmanager
def collection_lock(cfg: Config, name: str) -> Iterator[None]:
    """Hold collection `name` for one writer: a second `coach add`/`remove` of the same
    collection (another terminal, the app) is told so at once instead of racing this one.
    The lock file sits beside the collection's directory, so removing it keeps the lock."""
    root = collections_root(cfg)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{check_name(name)}.lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"Collection {name!r} is being changed by another coach process (an add or "
                "remove in another terminal or in the app). Fix: wait for it to finish, then "
                "run this again."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove(cfg: Config, name: str) -> None:
    """Delete a collection, damaged or not. It is first renamed out of the way (atomic), so a
    kill during the deletion never leaves half a collection under its name."""
    path = collection_dir(cfg, name)
    if not path.is_dir():
        raise BadInput(f"No collection named {name!r}. Fix: `coach collections` lists them.")
    with collection_lock(cfg, name):
        trash = Path(tempfile.mkdtemp(prefix=f".removing-{name}-", dir=path.parent))
        os.replace(path, trash / name)
        shutil.rmtree(trash)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers and crashes see the old or the new file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_collection(
    cfg: Config, name: str, files: list[FileEntry], sections: list[Section], built_at: str
) -> Collection:
    """Commit a new version of a collection (the manifest last: see the module docstring)."""
    folder = collection_dir(cfg, name)
    folder.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(s.to_json(), ensure_ascii=False) + "\n" for s in sections)
    data = payload.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    collection = Collection(
        name=name,
        files=tuple(files),
        sections=len(sections),
        built_at=built_at,
        coach_version=coach.__version__,
        sections_file=f"sections-{digest[:16]}.jsonl",
        sections_sha256=digest,
    )
    write_atomic(folder / collection.sections_file, data)
    manifest = json.dumps(collection.to_json(), indent=2, ensure_ascii=False) + "\n"
    write_atomic(folder / MANIFEST, manifest.encode("utf-8"))
    for stale in folder.glob("sections-*.jsonl"):  # only old sections: rubrics, flags and
        if stale.name != collection.sections_file:  # indexes beside them are not ours to drop
            with contextlib.suppress(OSError):
                stale.unlink()
    return collection
