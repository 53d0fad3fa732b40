"""The persisted search index: chunks, FAISS dense vectors and BM25 token lists.

Layout under `index_dir`: `current` is a symlink to a `build-*` directory holding `manifest.json`,
`chunks.jsonl`, `dense.faiss`, `bm25_tokens.json`, `dense_rows.json`, `statements.npy` (each
handbook statement's vector, title first, for answers built from statements) and
`scope_negatives.npy` (the
vectors of the hand-written out-of-scope questions, coach/search/scope.py). A build is written aside
and swapped in by replacing the symlink (atomic), so a reader never sees half an index. The manifest
records the corpus hash, embedding model, chunking parameters, the scope negatives' hash and each
file's sha256: a stale, missing or corrupt index is detected and rebuilt, never silently used.
Leaves out: querying (searcher.py) and the reranker (rerank.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from coach.config import Config
from coach.errors import SetupError
from coach.handbook import STATEMENTS_VERSION, corpus_hash, load_handbook, statements_by_section
from coach.handbook import chunk as chunking
from coach.search import scope, synthetic
from coach.search.embed import MODEL_ID, Embedder, default_embedder
from coach.search.lexical import BM25, tokenize

INDEX_VERSION = "4"
FILES = (
    "chunks.jsonl",
    "dense.faiss",
    "bm25_tokens.json",
    "dense_rows.json",
    "scope_negatives.npy",
    "statements.npy",
)


@dataclass(frozen=True)
class Index:
    chunks: tuple[chunking.Chunk, ...]
    vectors: np.ndarray  # (rows, dim), L2-normalised; also held by `faiss_index`
    faiss_index: object
    bm25: BM25
    manifest: dict
    path: Path
    # The chunk index of each dense row: one row per chunk, plus (doc2query) one per
    # synthetic question, so a query can meet a chunk through a question written for it.
    row_chunk: tuple[int, ...] = ()
    # (n, dim) vectors of corpus/scope_negatives.jsonl, for the scope decision.
    negative_vectors: np.ndarray | None = None
    # (n, dim) vectors of every handbook statement, in `statement_ids` order.
    statement_ids: tuple[str, ...] = ()
    statement_vectors: np.ndarray | None = None

    @cached_property
    def statement_row(self) -> dict[str, int]:
        return {sid: i for i, sid in enumerate(self.statement_ids)}

    @cached_property
    def by_id(self) -> dict[str, chunking.Chunk]:
        """Chunks by id, built once per loaded index (search looks chunks up on every query)."""
        return {c.id: c for c in self.chunks}


@dataclass(frozen=True)
class BuildResult:
    index: Index
    built: bool
    seconds: float

    def summary(self) -> dict:
        return {
            "index_dir": str(self.index.path.parent),
            "chunks": len(self.index.chunks),
            "built": self.built,
            "reranker": self.index.manifest.get("reranker", "none"),
            "seconds": round(self.seconds, 3),
        }


def expected_manifest(embedder_name: str = MODEL_ID, doc2query: bool = True) -> dict:
    """What a fresh index for the current corpus and code would record."""
    return {
        "version": INDEX_VERSION,
        "corpus_hash": corpus_hash(),
        "model_id": embedder_name,
        "chunk_version": chunking.CHUNK_VERSION,
        "statements_version": STATEMENTS_VERSION,
        "max_words": chunking.MAX_WORDS,
        "doc2query": synthetic.synthetic_hash() if doc2query else None,
        "scope_negatives": _file_hash(scope.NEGATIVES_PATH),
    }


def statement_texts() -> tuple[tuple[str, ...], list[str]]:
    """Every handbook statement's id, and the text embedded for it: its section's title first,
    so "Speed: Greedy — O(V) per step" is found by a question about decoding."""
    book = load_handbook()
    titles = {r.id: r.title for r in (*book.questions, *book.parts)}
    rows = [st for sts in statements_by_section(book).values() for st in sts]
    return tuple(st.id for st in rows), [f"{titles[st.section]}: {st.text}" for st in rows]


def _file_hash(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _faiss():
    try:
        import faiss
    except ImportError as exc:
        raise SetupError("faiss-cpu is not installed. Run: ./scripts/setup.sh") from exc
    return faiss


def build(cfg: Config, embedder: Embedder | None = None, progress=None) -> Path:
    """Build a new index next to the current one and swap it in; returns the build dir."""
    faiss = _faiss()
    embedder = embedder or default_embedder()
    say = progress or (lambda _msg: None)
    chunks = chunking.chunk_handbook(load_handbook())
    extra = synthetic.synthetic_by_chunk(synthetic.load_synthetic()) if cfg.doc2query else {}
    rows = list(range(len(chunks)))
    texts = [c.text for c in chunks]
    for i, c in enumerate(chunks):
        for q in extra.get(c.id, []):
            rows.append(i)
            texts.append(q)
    say(f"    embedding {len(chunks)} chunks and {len(texts) - len(chunks)} synthetic questions")
    vectors = embedder.embed(texts)
    cfg.index_dir.mkdir(parents=True, exist_ok=True)
    build_dir = cfg.index_dir / f"build-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    tmp_dir = build_dir.with_name(build_dir.name + ".tmp")
    tmp_dir.mkdir()
    try:
        with (tmp_dir / "chunks.jsonl").open("w", encoding="utf-8") as f:
            for c in chunks:
                f.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
        dense = faiss.IndexFlatIP(vectors.shape[1])
        dense.add(vectors)
        faiss.write_index(dense, str(tmp_dir / "dense.faiss"))
        # doc2query: a chunk's synthetic questions join its BM25 text, so the words people
        # ask with (not only the words the handbook uses) find it.
        tokens = [tokenize(" ".join([c.text, *extra.get(c.id, [])])) for c in chunks]
        (tmp_dir / "bm25_tokens.json").write_text(json.dumps(tokens, ensure_ascii=False))
        (tmp_dir / "dense_rows.json").write_text(json.dumps(rows))
        negatives = scope.load_negatives()
        neg_vecs = embedder.embed(negatives) if negatives else np.zeros((0, vectors.shape[1]))
        np.save(tmp_dir / "scope_negatives.npy", np.asarray(neg_vecs, dtype=np.float32))
        ids, texts = statement_texts()
        np.save(tmp_dir / "statements.npy", np.asarray(embedder.embed(texts), dtype=np.float32))
        manifest = {
            **expected_manifest(embedder.name, cfg.doc2query),
            "chunks": len(chunks),
            "dim": int(vectors.shape[1]),
            "files": {name: _sha256(tmp_dir / name) for name in FILES},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        (tmp_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
        os.replace(tmp_dir, build_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    _swap_current(cfg.index_dir, build_dir)
    return build_dir


def _swap_current(index_dir: Path, build_dir: Path) -> None:
    link = index_dir / "current"
    tmp_link = index_dir / f".current-{os.getpid()}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(build_dir.name)
    os.replace(tmp_link, link)  # atomic on POSIX: readers see the old or the new build
    for old in index_dir.glob("build-*"):
        if old.name != build_dir.name:
            shutil.rmtree(old, ignore_errors=True)


def _problem(cfg: Config, embedder_name: str) -> str | None:
    """Why the current index cannot be used, or None if it is fresh and intact."""
    current = cfg.index_dir / "current"
    manifest_path = current / "manifest.json"
    if not manifest_path.is_file():
        return "no index has been built"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return "the index manifest is corrupt"
    expected = expected_manifest(embedder_name, cfg.doc2query)
    stale = [k for k, v in expected.items() if manifest.get(k) != v]
    if stale:
        return f"the index is stale ({', '.join(stale)} changed)"
    for name, digest in manifest.get("files", {}).items():
        path = current / name
        if not path.is_file() or _sha256(path) != digest:
            return f"the index file {name} is missing or corrupt"
    return None


def index_status(cfg: Config) -> tuple[bool, str]:
    problem = _problem(cfg, MODEL_ID)
    if problem:
        return False, f"{problem}. Run: coach index"
    return True, f"{cfg.index_dir / 'current'} is up to date"


def load(cfg: Config) -> Index:
    """Load the current build; callers use ensure_index() to get one that is fresh."""
    faiss = _faiss()
    current = (cfg.index_dir / "current").resolve()
    manifest = json.loads((current / "manifest.json").read_text())
    with (current / "chunks.jsonl").open(encoding="utf-8") as f:
        chunks = tuple(chunking.Chunk(**json.loads(line)) for line in f)
    dense = faiss.read_index(str(current / "dense.faiss"))
    vectors = dense.reconstruct_n(0, dense.ntotal)
    tokens = json.loads((current / "bm25_tokens.json").read_text(encoding="utf-8"))
    rows = tuple(json.loads((current / "dense_rows.json").read_text()))
    negatives = np.load(current / "scope_negatives.npy")
    ids, _texts = statement_texts()
    statements = np.load(current / "statements.npy")
    if len(statements) != len(ids):
        raise ValueError("statements.npy does not match the handbook's statements")
    return Index(
        chunks, vectors, dense, BM25(tokens), manifest, current, rows, negatives, ids, statements
    )


def ensure_index(
    cfg: Config,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuildResult:
    """A fresh, intact index: loaded if it is, (re)built if it is not or if asked to."""
    start = time.perf_counter()
    name = (embedder or default_embedder()).name
    problem = "a rebuild was requested" if rebuild else _problem(cfg, name)
    built = False
    if problem:
        say = progress or (lambda _m: None)
        say(f"==> index: {problem}; building it in {cfg.index_dir}")
        build(cfg, embedder, progress)
        built = True
    try:
        idx = load(cfg)
    except Exception as exc:  # a build that cannot be read back is a setup problem
        raise SetupError(
            f"The index in {cfg.index_dir} cannot be read ({exc}). Run: coach index --rebuild"
        ) from exc
    return BuildResult(idx, built, time.perf_counter() - start)
