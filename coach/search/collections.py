"""Search over the user's collections (coach/sources): one index per collection, one fused
ranking over any set of them.

Chunks: each section's text, cut with the sources' own windows (coach/sources/windows.py) of
CHUNK_CHARS (overlap CHUNK_OVERLAP) when it is longer than a window and a quarter, each prefixed
with the section's heading path ("4. Control Flow > 4.8. More on Defining Functions"; the last
heading is left out of the prefix when the passage opens with it), so headings are searchable
by BM25 and the embedder alike. A chunk keeps its exact span in the
document, so a hit's passage points back into the file. The window is smaller than a section's
(1,200 characters) because MiniLM reads at most 256 word pieces: on the Python tutorial (17 HTML
files, 255 sections) whole 1,200-character sections ran to a median 275 pieces and 156 of 257
were cut short (12k pieces never embedded); 720-character chunks give 457 chunks, a median of
178 pieces, 31 cut short and 1.2k pieces lost, for about the same embedding time (it scales
with pieces, not chunks): 19 s for the tutorial at 24 chunks/s on 2 cores, plus 5 s to load
MiniLM.

Index: `$COACH_HOME/collections/NAME/index-<key>/` holds `chunks.jsonl`, `dense.npy` (the
chunks' L2-normalised vectors, float32), `bm25_tokens.json` and `manifest.json` (the sections
file's sha256, the embedder, the chunking parameters and every file's sha256). The key hashes
the sections file's sha256, the embedder and the chunking parameters, so a collection whose
sections changed (re-added files) has no index under its new key and one is built on demand;
an index that fails its checks is a SetupError naming the fix, never silently used. A build is
written to a hidden temporary directory and committed by renaming it to `index-<key>` (atomic):
a build killed at any point leaves the previous index directory untouched and no half index
under an `index-` name; older indexes are deleted only after the new one is committed.

Search (mirrors the handbook's section-level fusion, coach/search/searcher.py `_linear`): a
section's score is `w * bm25 / max_bm25 + (1 - w) * cosine`, each the best over the section's
chunks, w from corpus/retrieval_defaults.json ("fusion", bm25_weight; collections always use
this linear form). Over several collections at once BM25 is one model over all their chunks
(one IDF, normalised by the max over every searched chunk) and the cosines are comparable
because one embedder made them all. The cosines are an exact numpy product over every chunk
(what FAISS IndexFlatIP computes) up to ann.EXACT_MAX_CHUNKS; a larger index carries an HNSW
graph (ann.py: the rule, and exact cosines over the graph's and BM25's candidates). At 20,000
chunks a whole search took p50 15.8 / p95 18.7 ms on 2 cores (evals/collections/scale.json).
The passage shown
is the section's best chunk by the same formula at chunk level. Ids are namespaced:
`notes:s12`, chunk `notes:s12#2`.

`in_scope` for collections is provisional: the best cosine over the searched chunks must reach
SCOPE_COSINE. The handbook's fitted scope model (scope.py) reads handbook-only signals
(doc2query rows, its hand-written negatives), so it does not carry over; nothing has been
fitted for collections yet.
Leaves out: the reranker, typo correction of the BM25 query, doc2query (the handbook's);
one ranking with the handbook is mixed.py's.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from coach.config import Config
from coach.errors import SetupError, UsageError
from coach.search import ann
from coach.search.embed import Embedder, default_embedder
from coach.search.fusion import linear_fusion_array, top_k
from coach.search.lexical import BM25, tokenize
from coach.search.searcher import Hit, fusion_defaults
from coach.sources import Collection, Section, list_collections, load_sections, read_manifest
from coach.sources.store import collection_dir, write_atomic
from coach.sources.windows import windows

# Bumped when the chunk records or the index files change incompatibly.
INDEX_VERSION = "1"
# Chunk windows (see the module docstring): ~150 words plus the heading path fit MiniLM.
CHUNK_CHARS = 720
CHUNK_OVERLAP = 150
FILES = ("chunks.jsonl", "dense.npy", "bm25_tokens.json")
# Chunks embedded per progress line.
EMBED_BLOCK = 256
# Provisional (see the module docstring), MiniLM only: 50 made-up questions about the Python
# tutorial reached a best cosine of at least 0.34 (median 0.62) against its chunks, 10 off-topic
# ones (cooking, sport, history) at most 0.24 (median 0.12); 0.3 sits in that gap. Not fitted on any
# eval set and not checked on near-domain questions the collection does not answer.
SCOPE_COSINE = 0.3
# A hidden build directory older than this is left over from a killed build (a live build only
# writes its directory after embedding, which takes seconds).
STALE_BUILD_S = 600


@dataclass(frozen=True)
class Chunk:
    """One searchable piece of a section: `passage` is `document.text[start:end]`."""

    id: str  # "s12#2": the section's id and the chunk's 1-based position in it
    section: str  # "s12"
    title: str
    source: str
    path: str
    heading_path: tuple[str, ...]
    start: int
    end: int
    passage: str

    @property
    def header(self) -> str:
        """The heading path, less the last heading when the passage opens with it already."""
        path = list(self.heading_path) or [self.title]
        if path[-1] and path[-1] in self.passage.split("\n", 1)[0]:
            path.pop()
        return " > ".join(path)

    @property
    def text(self) -> str:
        """What is embedded and indexed: the heading path, then the passage."""
        return f"{self.header}\n{self.passage}" if self.header else self.passage

    @classmethod
    def from_json(cls, obj: dict) -> Chunk:
        return cls(**{**obj, "heading_path": tuple(obj["heading_path"])})


def chunk_sections(sections: Sequence[Section]) -> list[Chunk]:
    """The chunks of a collection's sections, in section order (a section's chunks are
    contiguous, which search relies on).

    >>> s = Section("s1", "a.md", "/a.md", ("Guide", "Install"), "Install", "Run it.", 10, 17)
    >>> [(c.id, c.text, c.start, c.end) for c in chunk_sections([s])]
    [('s1#1', 'Guide > Install\\nRun it.', 10, 17)]
    """
    chunks: list[Chunk] = []
    for s in sections:
        spans = windows(s.text, size=CHUNK_CHARS, overlap=CHUNK_OVERLAP) or [(0, len(s.text))]
        for i, (a, b) in enumerate(spans, 1):
            chunks.append(
                Chunk(
                    id=f"{s.id}#{i}",
                    section=s.id,
                    title=s.title,
                    source=s.source,
                    path=s.path,
                    heading_path=s.heading_path,
                    start=s.start + a,
                    end=s.start + b,
                    passage=s.text[a:b],
                )
            )
    return chunks


def index_key(collection: Collection, embedder_name: str) -> str:
    """What an index is built from: the sections, the embedder and the chunking."""
    spec = {
        "version": INDEX_VERSION,
        "sections_sha256": collection.sections_sha256,
        "embedder": embedder_name,
        "chunk_chars": CHUNK_CHARS,
        "chunk_overlap": CHUNK_OVERLAP,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CollectionIndex:
    name: str
    path: Path
    manifest: dict
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray  # (chunks, dim) float32, L2-normalised
    tokens: tuple[tuple[str, ...], ...]
    graph: object = None  # the HNSW graph of a collection past ann.EXACT_MAX_CHUNKS


@dataclass(frozen=True)
class IndexBuild:
    index: CollectionIndex
    built: bool
    seconds: float
    chunks_per_s: float | None  # embedding throughput when built

    def summary(self) -> dict:
        """The `coach index` contract's fields, plus the embedding throughput."""
        return {
            "index_dir": str(self.index.path),
            "chunks": len(self.index.chunks),
            "built": self.built,
            "reranker": "none",
            "seconds": round(self.seconds, 3),
            "chunks_per_s": self.chunks_per_s,
        }


def _fix(name: str) -> str:
    return f"Fix: coach index --collection {name} --rebuild"


def _damaged(name: str, path: Path, why: object) -> SetupError:
    return SetupError(
        f"The search index of collection {name!r} is damaged ({path}: {why}). " + _fix(name)
    )


# Loaded indexes by directory: a directory's content never changes once committed (its name is
# its key), so a loaded index stays valid for as long as the directory exists.
_LOADED: dict[Path, CollectionIndex] = {}


_EMBEDDED = re.compile(r"embedded (\d+)/(\d+) chunks \(([\d.]+) chunks/s\)")


def embedding_progress(message: str) -> tuple[int, int, float] | None:
    """(done, total, chunks/s) of an embedding progress line, as `_embed` writes them, for the
    terminal's bar and the app's; None for any other line.

    >>> embedding_progress("    embedded 256/457 chunks (23.9 chunks/s)")
    (256, 457, 23.9)
    """
    m = _EMBEDDED.search(message)
    return (int(m[1]), int(m[2]), float(m[3])) if m else None


def _embed(embedder: Embedder, texts: list[str], say: Callable[[str], None]) -> np.ndarray:
    parts = []
    started = time.perf_counter()
    for lo in range(0, len(texts), EMBED_BLOCK):
        parts.append(np.asarray(embedder.embed(texts[lo : lo + EMBED_BLOCK]), dtype=np.float32))
        done = min(lo + EMBED_BLOCK, len(texts))
        rate = done / max(time.perf_counter() - started, 1e-9)
        say(f"    embedded {done}/{len(texts)} chunks ({rate:.1f} chunks/s)")
    if not parts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.concatenate(parts)


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _clean(folder: Path, keep: str) -> None:
    """Delete the indexes other than `keep` and hidden build directories left by kills."""
    now = time.time()
    for p in folder.iterdir():
        old_build = p.name.startswith(".index-") and now - p.stat().st_mtime > STALE_BUILD_S
        if (p.name.startswith("index-") and p.name != keep) or old_build:
            shutil.rmtree(p, ignore_errors=True)


def build_index(
    cfg: Config,
    name: str,
    embedder: Embedder | None = None,
    progress: Callable[[str], None] | None = None,
) -> IndexBuild:
    """Build collection `name`'s index from its current sections and commit it (replacing an
    existing one with the same key only once the new one is complete)."""
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    embedder = embedder or default_embedder()
    collection = read_manifest(cfg, name)
    sections = load_sections(cfg, name)
    chunks = chunk_sections(sections)
    key = index_key(collection, embedder.name)
    folder = collection_dir(cfg, name)
    final = folder / f"index-{key}"
    say(f"==> index {name}: embedding {len(chunks)} chunks of {len(sections)} sections")
    if hasattr(embedder, "warm_up"):
        embedder.warm_up()  # so chunks/s measures embedding, not loading the model
    t0 = time.perf_counter()
    vectors = _embed(embedder, [c.text for c in chunks], say)
    embed_s = time.perf_counter() - t0
    tokens = [tokenize(c.text) for c in chunks]
    tmp = folder / f".index-{key}-{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    aside: Path | None = None
    try:
        payloads = {
            "chunks.jsonl": "".join(
                json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in chunks
            ).encode("utf-8"),
            "dense.npy": _npy_bytes(vectors),
            "bm25_tokens.json": json.dumps(tokens, ensure_ascii=False).encode("utf-8"),
        }
        if ann.needs_graph(len(chunks)):  # the documented rule: approximate beyond the limit
            say(f"    building the HNSW graph over {len(chunks)} chunks")
            payloads[ann.FILE] = ann.graph_bytes(ann.build_graph(vectors))
        for fname, data in payloads.items():
            write_atomic(tmp / fname, data)
        chunks_per_s = round(len(chunks) / embed_s, 1) if embed_s > 0 else None
        manifest = {
            "version": INDEX_VERSION,
            "collection": name,
            "key": key,
            "sections_sha256": collection.sections_sha256,
            "embedder": embedder.name,
            "dim": int(vectors.shape[1]),
            "chunk_chars": CHUNK_CHARS,
            "chunk_overlap": CHUNK_OVERLAP,
            "sections": len(sections),
            "chunks": len(chunks),
            "chunks_per_s": chunks_per_s,
            "files": {f: hashlib.sha256(d).hexdigest() for f, d in payloads.items()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_atomic(tmp / "manifest.json", json.dumps(manifest, indent=2).encode("utf-8"))
        if final.exists():  # a rebuild of the same key: move the old one aside only now
            aside = folder / f".index-{key}-{uuid.uuid4().hex[:8]}.old"
            os.replace(final, aside)
        os.replace(tmp, final)  # the commit
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    _clean(folder, keep=final.name)
    for stale in [p for p in _LOADED if p.parent == final.parent]:
        del _LOADED[stale]
    graph = ann.load_graph(payloads[ann.FILE]) if ann.FILE in payloads else None
    index = CollectionIndex(
        name, final, manifest, tuple(chunks), vectors, tuple(tuple(t) for t in tokens), graph
    )
    _LOADED[final] = index
    say(f"    index {name}: {len(chunks)} chunks in {time.perf_counter() - started:.1f} s")
    return IndexBuild(index, True, time.perf_counter() - started, chunks_per_s)


def load_index(name: str, path: Path, collection: Collection, embedder_name: str):
    """Read and check a committed index directory (SetupError naming the fix if it fails)."""
    if path in _LOADED:
        return _LOADED[path]
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        if manifest["version"] != INDEX_VERSION:
            raise ValueError(f"version {manifest['version']!r}, expected {INDEX_VERSION}")
        if manifest["sections_sha256"] != collection.sections_sha256:
            raise ValueError("it was built from other sections")
        if manifest["embedder"] != embedder_name:
            raise ValueError(f"it was built with {manifest['embedder']}")
        data = {}
        for fname in manifest["files"]:
            data[fname] = (path / fname).read_bytes()
            if hashlib.sha256(data[fname]).hexdigest() != manifest["files"][fname]:
                raise ValueError(f"{fname}: its sha256 does not match the manifest")
        chunks = tuple(
            Chunk.from_json(json.loads(line)) for line in data["chunks.jsonl"].decode().splitlines()
        )
        vectors = np.load(io.BytesIO(data["dense.npy"]), allow_pickle=False)
        tokens = tuple(tuple(t) for t in json.loads(data["bm25_tokens.json"]))
        if not (len(chunks) == len(vectors) == len(tokens) == manifest["chunks"]):
            raise ValueError("chunks, vectors and tokens disagree in number")
        if vectors.ndim != 2 or vectors.shape[1] != manifest["dim"]:
            raise ValueError(f"vectors of shape {vectors.shape}")
        missing = [f for f in FILES if f not in data]
        if missing or ann.needs_graph(len(chunks)) != (ann.FILE in data):
            raise ValueError(f"its files do not match its size ({sorted(data)})")
        graph = ann.load_graph(data[ann.FILE]) if ann.FILE in data else None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise _damaged(name, path, exc) from exc  # RuntimeError: faiss reading a broken graph
    index = CollectionIndex(name, path, manifest, chunks, vectors.astype(np.float32), tokens, graph)
    _LOADED[path] = index
    return index


def ensure_index(
    cfg: Config,
    name: str,
    embedder: Embedder | None = None,
    rebuild: bool = False,
    progress: Callable[[str], None] | None = None,
) -> IndexBuild:
    """Collection `name`'s index for its current sections: loaded if committed and intact,
    built if missing or stale (or if asked to); a damaged one is a SetupError."""
    started = time.perf_counter()
    embedder = embedder or default_embedder()
    collection = read_manifest(cfg, name)
    path = collection_dir(cfg, name) / f"index-{index_key(collection, embedder.name)}"
    if rebuild or not path.is_dir():
        return build_index(cfg, name, embedder, progress)
    index = load_index(name, path, collection, embedder.name)
    return IndexBuild(index, False, time.perf_counter() - started, None)


def index_chunks(cfg: Config, collection: Collection) -> int | None:
    """How many chunks the collection's index holds (None: no index built from its current
    sections), from the index manifest alone."""
    for path in sorted(collection_dir(cfg, collection.name).glob("index-*/manifest.json")):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            if manifest["sections_sha256"] == collection.sections_sha256:
                return int(manifest["chunks"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


# -- searching ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionHit:
    id: str  # "notes:s12"
    chunk_id: str  # "notes:s12#2"
    title: str
    score: float  # the fused section score
    rank: int
    collection: str
    source: str  # the file, relative to what was added
    path: str  # the file, absolute
    heading_path: tuple[str, ...]
    start: int  # the passage's span in the file's text
    end: int
    passage: str
    cosine: float  # the section's best cosine

    def to_json(self) -> dict:
        return {
            **Hit.to_json(self),  # the handbook hit's contract fields, then the collection's
            "source": self.source,
            "heading_path": list(self.heading_path),
            "passage": self.passage,
        }


@dataclass(frozen=True)
class CollectionResult:
    query: str
    in_scope: bool
    hits: tuple[CollectionHit, ...]
    timing: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """The `coach search` contract's shape."""
        return {
            "query": self.query,
            "in_scope": self.in_scope,
            "hits": [h.to_json() for h in self.hits],
        }


def check_names(cfg: Config, names: Sequence[str]) -> list[str]:
    """The names, deduplicated in order, if each is an existing collection; else a UsageError
    listing the existing ones."""
    existing = [c.name for c in list_collections(cfg)]
    unknown = [n for n in names if n not in existing]
    if unknown:
        have = ", ".join(existing) if existing else "none yet (add one with: coach add PATH...)"
        raise UsageError(
            f"No collection named {', '.join(map(repr, unknown))}. Collections: {have}."
        )
    return list(dict.fromkeys(names))


class CollectionSearcher:
    """Search over a fixed set of loaded collection indexes, joined once for many queries."""

    def __init__(
        self,
        indexes: Sequence[CollectionIndex],
        embedder: Embedder,
        scope_cosine: float = SCOPE_COSINE,
    ):
        self.indexes = tuple(indexes)
        self.names = [ix.name for ix in self.indexes]
        self.embedder = embedder
        self.scope_cosine = scope_cosine
        self.bm25_weight = float(fusion_defaults()["bm25_weight"])
        self.chunks = [c for ix in self.indexes for c in ix.chunks]
        self.collection = [ix.name for ix in self.indexes for _c in ix.chunks]
        vecs = [ix.vectors for ix in self.indexes]
        self.vectors = np.concatenate(vecs) if vecs else np.zeros((0, embedder.dim), np.float32)
        # One graph over everything searched: a single collection's saved one, else built
        # here for a join of several that together pass the limit.
        self.graph = None
        if ann.needs_graph(len(self.vectors)):
            saved = self.indexes[0].graph if len(self.indexes) == 1 else None
            self.graph = saved if saved is not None else ann.build_graph(self.vectors)
        # One BM25 over every searched chunk: one IDF, one max to normalise by.
        tokens = [list(t) for ix in self.indexes for t in ix.tokens]
        self.bm25 = BM25(tokens) if tokens else None
        # Section i owns chunks offsets[i]:ends[i] (a section's chunks are contiguous).
        starts = [
            i
            for i, (coll, c) in enumerate(zip(self.collection, self.chunks, strict=True))
            if i == 0 or (coll, c.section) != (self.collection[i - 1], self.chunks[i - 1].section)
        ]
        self.offsets = np.asarray(starts, dtype=np.int64)
        self.ends = np.append(self.offsets[1:], len(self.chunks)).astype(np.int64)

    def search(self, query: str, k: int = 5) -> CollectionResult:
        t0 = time.perf_counter()
        qv = np.asarray(self.embedder.embed([query])[0], dtype=np.float32)
        t1 = time.perf_counter()
        if not self.chunks:
            return CollectionResult(query, False, (), {"embed_s": t1 - t0})
        bm = self.bm25.scores(query)
        t2 = time.perf_counter()
        if self.graph is None:
            cos = (self.vectors @ qv).astype(np.float64)
        else:
            cos = ann.candidate_cosines(self.graph, self.vectors, qv, bm)
        t3 = time.perf_counter()
        w = self.bm25_weight
        sec_cos = np.maximum.reduceat(cos, self.offsets)
        sec_score = linear_fusion_array(np.maximum.reduceat(bm, self.offsets), sec_cos, w)
        chunk_score = linear_fusion_array(bm, cos, w)
        hits = []
        for rank, s in enumerate(top_k(sec_score, k), 1):
            lo, hi = int(self.offsets[s]), int(self.ends[s])
            best = lo + int(np.argmax(chunk_score[lo:hi]))
            c, coll = self.chunks[best], self.collection[best]
            hits.append(
                CollectionHit(
                    id=f"{coll}:{c.section}",
                    chunk_id=f"{coll}:{c.id}",
                    title=c.title,
                    score=float(sec_score[s]),
                    rank=rank,
                    collection=coll,
                    source=c.source,
                    path=c.path,
                    heading_path=c.heading_path,
                    start=c.start,
                    end=c.end,
                    passage=c.passage,
                    cosine=float(sec_cos[s]),
                )
            )
        in_scope = bool(hits) and float(sec_cos.max()) >= self.scope_cosine
        timing = {
            "embed_s": t1 - t0,
            "bm25_s": t2 - t1,
            "dense_s": t3 - t2,
            "fusion_s": time.perf_counter() - t3,
        }
        return CollectionResult(query, in_scope, tuple(hits), timing)


_SEARCHERS: dict[tuple, CollectionSearcher] = {}


def get_collection_searcher(
    cfg: Config,
    names: Sequence[str] | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[str], None] | None = None,
) -> CollectionSearcher:
    """A searcher over collections `names` (None: all) as they are now: their indexes ensured
    (built when stale), the joined searcher reused while none of them changed."""
    embedder = embedder or default_embedder()
    names = check_names(cfg, [c.name for c in list_collections(cfg)] if names is None else names)
    indexes = [ensure_index(cfg, n, embedder, progress=progress).index for n in names]
    key = (embedder.name, tuple(ix.path for ix in indexes))
    if key not in _SEARCHERS:
        _SEARCHERS.clear()
        _SEARCHERS[key] = CollectionSearcher(indexes, embedder)
    return _SEARCHERS[key]


def search_collections(
    cfg: Config,
    query: str,
    names: Sequence[str] | None = None,
    k: int = 5,
    embedder: Embedder | None = None,
    progress: Callable[[str], None] | None = None,
) -> CollectionResult:
    """Search collections `names` (None: all of them) at once; hits are sections, best first,
    with namespaced ids (`notes:s12`)."""
    return get_collection_searcher(cfg, names, embedder, progress).search(query, k)


def forget(cfg: Config, name: str) -> None:
    """Drop a collection's loaded indexes from this process (after `coach remove`)."""
    with contextlib.suppress(OSError, ValueError):
        folder = collection_dir(cfg, name)
        for path in [p for p in _LOADED if p.parent == folder]:
            del _LOADED[path]
    _SEARCHERS.clear()
