"""Search over the user's collections (coach/search/collections.py): the index next to each
collection, fused search over one or several, stale/corrupt/killed builds, and the CLI.

The logic runs on the deterministic HashEmbedder; one test (marked real) uses MiniLM on a page
of the Python tutorial."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from coach.cli.parser import main
from coach.config import load_config
from coach.errors import SetupError, UsageError
from coach.search import MODEL_ID, HashEmbedder
from coach.search import collections as cs
from coach.sources import add, remove

ML = """# Training tricks

## Gradient clipping

Rescale the gradient norm when it exceeds a threshold, so that exploding gradients in
recurrent networks do not wreck an update.

## Learning rate warmup

Start with a small learning rate and raise it linearly over the first steps, which keeps early
updates stable for transformers.

## Dropout

Randomly zero activations during training so the network cannot rely on any single unit; a
regulariser against overfitting.
"""

KITCHEN = """# Kitchen

## Bread

Knead the dough, let it rise overnight, and bake it in a hot oven until the crust is brown.

## Soup

Simmer vegetables in stock for an hour, then blend until smooth and season with salt.
"""

CARDS = """Q: What is a hash map?
A: A table of buckets indexed by a hash of the key, with constant average lookup time.
Q: What is a binary heap?
A: A complete tree where each parent is smaller than its children: a priority queue.
"""

TUTORIAL_PAGE = Path("/usr/share/doc/python3.11/html/tutorial/controlflow.html")


def embedder() -> HashEmbedder:
    return HashEmbedder(dim=1024)


pytestmark = pytest.mark.usefixtures("fresh_collection_caches")


@pytest.fixture
def notes(tmp_path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "ml.md").write_text(ML, encoding="utf-8")
    (folder / "kitchen.md").write_text(KITCHEN, encoding="utf-8")
    return folder


@pytest.fixture
def cards(tmp_path) -> Path:
    path = tmp_path / "cards.txt"
    path.write_text(CARDS, encoding="utf-8")
    return path


def search(query: str, names=("notes",), k: int = 5):
    return cs.search_collections(load_config(), query, list(names), k=k, embedder=embedder())


def index_dirs(name: str) -> list[Path]:
    return sorted((load_config().home / "collections" / name).glob("index-*"))


def hidden_builds(name: str) -> list[Path]:
    return sorted((load_config().home / "collections" / name).glob(".index-*"))


def last_heading(hit) -> str:
    return hit.heading_path[-1]


# -- building and searching ---------------------------------------------------------------


def test_build_writes_an_index_next_to_the_collection(notes):
    cfg = load_config()
    add(cfg, "notes", [notes])
    lines: list[str] = []
    build = cs.ensure_index(cfg, "notes", embedder(), progress=lines.append)
    assert build.built and build.chunks_per_s and len(build.index.chunks) == 5
    (folder,) = index_dirs("notes")
    assert build.index.path == folder and not hidden_builds("notes")
    assert sorted(p.name for p in folder.iterdir()) == sorted([*cs.FILES, "manifest.json"])
    manifest = json.loads((folder / "manifest.json").read_text())
    collection = json.loads((folder.parent / "manifest.json").read_text())
    assert manifest["sections_sha256"] == collection["sections_sha256"]
    assert manifest["embedder"] == "hash-fake" and manifest["chunks"] == 5
    assert np.load(folder / "dense.npy").shape == (5, 1024)
    assert any("embedded 5/5 chunks" in line for line in lines)
    again = cs.ensure_index(cfg, "notes", embedder())
    assert not again.built and again.chunks_per_s is None and index_dirs("notes") == [folder]


def test_chunks_carry_the_heading_path_and_an_exact_span(notes):
    cfg = load_config()
    add(cfg, "notes", [notes])
    chunks = cs.ensure_index(cfg, "notes", embedder()).index.chunks
    clip = next(c for c in chunks if c.heading_path[-1] == "Gradient clipping")
    assert clip.text.startswith("Training tricks\n## Gradient clipping\n\nRescale the gradient")
    text = (notes / "ml.md").read_text(encoding="utf-8")
    assert all(c.passage == text[c.start : c.end] for c in chunks if c.source == "notes/ml.md")


def test_a_long_section_is_split_into_chunks_of_one_section(tmp_path):
    long = "# Long\n\n" + " ".join(f"Sentence number {i} is here." for i in range(200)) + "\n"
    (tmp_path / "long.md").write_text(long, encoding="utf-8")
    cfg = load_config()
    add(cfg, "long", [tmp_path / "long.md"])
    chunks = cs.ensure_index(cfg, "long", embedder()).index.chunks
    sections = {c.section for c in chunks}
    assert len(chunks) > len(sections)
    assert all(len(c.passage) <= cs.CHUNK_CHARS * 1.25 for c in chunks)
    # The first chunk opens with the heading itself; the others get it as a prefix.
    assert chunks[0].text.startswith("# Long\n") and chunks[1].text.startswith("Long\nSentence")
    assert [c.id for c in chunks if c.section == chunks[0].section][:2] == [
        f"{chunks[0].section}#1",
        f"{chunks[0].section}#2",
    ]
    hit = search("Sentence number 150", names=["long"], k=1).hits[0]
    assert "Sentence number 150 " in hit.passage  # the best chunk of the section is shown


def test_search_finds_the_planted_section_by_keyword_and_by_paraphrase(notes):
    add(load_config(), "notes", [notes])
    result = search("exploding gradients")
    top = result.hits[0]
    assert last_heading(top) == "Gradient clipping"
    assert top.id == f"notes:{top.chunk_id.split(':')[1].split('#')[0]}"
    assert top.id.startswith("notes:s") and top.chunk_id.startswith(top.id + "#")
    assert top.source == "notes/ml.md" and top.path == str((notes / "ml.md").resolve())
    assert 0 < top.score <= 1 and [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
    assert len({h.id for h in result.hits}) == len(result.hits)  # one hit per section
    # Other words, other order, some words only near the planted ones.
    assert last_heading(search("keep the early updates of transformers stable").hits[0]) == (
        "Learning rate warmup"
    )
    # A word that only the heading holds: headings are searchable.
    assert last_heading(search("warmup").hits[0]) == "Learning rate warmup"
    assert last_heading(search("knead dough overnight").hits[0]) == "Bread"


def test_two_collections_are_searched_as_one_ranking(notes, cards):
    cfg = load_config()
    add(cfg, "notes", [notes])
    add(cfg, "cards", [cards])
    both = ["notes", "cards"]
    hits = search("hash of the key with constant average lookup", names=both, k=10).hits
    assert hits[0].id.startswith("cards:") and "hash map" in hits[0].title.lower()
    assert {h.collection for h in hits} == {"notes", "cards"} and len(hits) == 7
    assert all(h.id.startswith(f"{h.collection}:s") for h in hits)
    assert search("exploding gradients", names=both).hits[0].id.startswith("notes:")
    assert (
        search("priority queue", names=["cards", "notes", "cards"]).hits[0].id.startswith("cards:")
    )
    # names=None searches every collection.
    assert {
        h.collection for h in cs.search_collections(cfg, "tree", k=20, embedder=embedder()).hits
    } == {"notes", "cards"}


def test_unknown_collection_lists_the_existing_ones(notes):
    add(load_config(), "notes", [notes])
    with pytest.raises(UsageError, match="No collection named 'nope'. Collections: notes."):
        search("anything", names=["notes", "nope"])


def test_a_changed_file_makes_the_index_stale_and_it_is_rebuilt_on_demand(notes):
    cfg = load_config()
    add(cfg, "notes", [notes])
    cs.ensure_index(cfg, "notes", embedder())
    (old,) = index_dirs("notes")
    (notes / "ml.md").write_text(ML.replace("Dropout", "Batch normalisation"), encoding="utf-8")
    assert add(cfg, "notes", [notes]).updated == ("notes/ml.md",)
    assert old.is_dir()  # the previous index stays until a new one is committed
    hit = search("batch normalisation").hits[0]  # rebuilt on demand
    assert last_heading(hit) == "Batch normalisation"
    (new,) = index_dirs("notes")
    assert new != old and not old.exists() and not hidden_builds("notes")


# -- kills, failures and damage ------------------------------------------------------------


class DyingEmbedder(HashEmbedder):
    """Embeds the first block, then fails: a build interrupted half way through."""

    def __init__(self):
        super().__init__(dim=1024)
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        if self.calls > 1:
            raise KeyboardInterrupt("killed (simulated)")
        return super().embed(texts)


def test_an_interrupted_rebuild_leaves_the_previous_index_in_use(notes, monkeypatch):
    cfg = load_config()
    add(cfg, "notes", [notes])
    cs.ensure_index(cfg, "notes", embedder())
    (folder,) = index_dirs("notes")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    monkeypatch.setattr(cs, "EMBED_BLOCK", 2)
    with pytest.raises(KeyboardInterrupt):
        cs.ensure_index(cfg, "notes", DyingEmbedder(), rebuild=True)
    cs._LOADED.clear()
    assert index_dirs("notes") == [folder] and not hidden_builds("notes")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    again = cs.ensure_index(cfg, "notes", embedder())
    assert not again.built  # the previous index is used as it is
    assert last_heading(search("exploding gradients").hits[0]) == "Gradient clipping"


def test_a_build_that_dies_before_its_commit_leaves_the_previous_index(notes, monkeypatch):
    cfg = load_config()
    add(cfg, "notes", [notes])
    cs.ensure_index(cfg, "notes", embedder())
    (old,) = index_dirs("notes")
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    (notes / "kitchen.md").write_text(KITCHEN + "\n## Pasta\n\nBoil it.\n", encoding="utf-8")
    add(cfg, "notes", [notes])
    real_replace = os.replace

    def dying_replace(src, dst):
        if Path(dst).name.startswith("index-"):
            raise OSError("killed before the commit (simulated)")
        real_replace(src, dst)

    monkeypatch.setattr(cs.os, "replace", dying_replace)
    with pytest.raises(OSError, match="simulated"):
        search("pasta")
    assert index_dirs("notes") == [old] and not hidden_builds("notes")
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    monkeypatch.setattr(cs.os, "replace", real_replace)
    assert last_heading(search("boil pasta").hits[0]) == "Pasta"
    assert len(index_dirs("notes")) == 1 and not old.exists()


@pytest.mark.parametrize("damage", ["dense.npy", "chunks.jsonl", "manifest.json"])
def test_a_corrupt_index_is_a_setup_error_with_the_fix(notes, damage):
    cfg = load_config()
    add(cfg, "notes", [notes])
    cs.ensure_index(cfg, "notes", embedder())
    (folder,) = index_dirs("notes")
    path = folder / damage
    path.write_bytes(path.read_bytes()[:-7] + b"garbage")
    cs._LOADED.clear()
    cs._SEARCHERS.clear()
    with pytest.raises(SetupError, match=r"index of collection 'notes' is damaged") as err:
        search("exploding gradients")
    assert "Fix: coach index --collection notes --rebuild" in err.value.message
    assert cs.ensure_index(cfg, "notes", embedder(), rebuild=True).built
    assert last_heading(search("exploding gradients").hits[0]) == "Gradient clipping"
    assert index_dirs("notes") == [folder] and not hidden_builds("notes")


def test_remove_deletes_the_index(notes, cards):
    cfg = load_config()
    add(cfg, "notes", [notes])
    add(cfg, "cards", [cards])
    search("gradients", names=["notes", "cards"])
    assert index_dirs("notes")
    remove(cfg, "notes")
    cs.forget(cfg, "notes")
    assert not (cfg.home / "collections" / "notes").exists()
    assert not any(p.parent.name == "notes" for p in cs._LOADED)
    with pytest.raises(UsageError, match="Collections: cards"):
        search("gradients", names=["notes"])


# -- the command line (in process, hash embedder) -------------------------------------------


def schema(name: str) -> dict:
    return json.loads(resources.files("coach.cli").joinpath(f"schemas/{name}.json").read_text())


@pytest.fixture
def hash_cli(monkeypatch):
    monkeypatch.setattr(cs, "default_embedder", embedder)


def run(capfd, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capfd.readouterr()
    return code, out, err


def test_cli_add_indexes_search_finds_remove_deletes(notes, cards, hash_cli, capfd):
    code, out, err = run(capfd, "add", str(notes), "--json")
    assert code == 0, err
    added = json.loads(out)
    jsonschema.validate(added, schema("add"))
    assert added["chunks"] == 5 and added["chunks_per_s"] > 0 and added["index_seconds"] >= 0
    assert "embedded 5/5 chunks" in err
    code, out, _ = run(capfd, "add", str(notes), "--json")
    assert json.loads(out)["chunks_per_s"] is None  # unchanged: nothing embedded
    code, out, _ = run(capfd, "add", str(cards), "--name", "cards")
    assert code == 0 and "Search: 2 chunks indexed" in out

    code, out, _ = run(capfd, "collections", "--json")
    listing = json.loads(out)
    jsonschema.validate(listing, schema("collections"))
    assert {r["name"]: r["chunks"] for r in listing["collections"]} == {"cards": 2, "notes": 5}

    code, out, err = run(
        capfd,
        "search",
        "exploding gradients",
        "--collection",
        "notes",
        "--collection",
        "cards",
        "--json",
        "--k",
        "3",
    )
    assert code == 0, err
    result = json.loads(out)
    jsonschema.validate(result, schema("search"))
    top = result["hits"][0]
    assert top["id"].startswith("notes:s") and top["heading_path"][-1] == "Gradient clipping"
    assert top["source"] == "notes/ml.md" and "exploding gradients" in top["passage"]
    assert len(result["hits"]) == 3

    code, out, _ = run(capfd, "search", "priority queue", "--collection", "cards")
    assert code == 0 and "[cards:s2]" in out and "cards.txt" in out

    code, out, err = run(capfd, "search", "x", "--collection", "nope", "--json")
    assert code == 2 and "Collections: cards, notes" in json.loads(out)["error"]["message"]
    code, _, err = run(capfd, "search", "x", "--collection", "handbook", "--collection", "nope")
    assert code == 2 and "No collection named 'nope'" in err  # checked before the handbook loads

    code, out, _ = run(capfd, "remove", "notes", "--json")
    assert code == 0 and not (load_config().home / "collections" / "notes").exists()
    code, out, _ = run(capfd, "search", "x", "--collection", "notes", "--json")
    assert code == 2


def test_cli_index_rebuilds_a_damaged_collection_index(notes, hash_cli, capfd):
    assert run(capfd, "add", str(notes), "--json")[0] == 0
    (folder,) = index_dirs("notes")
    (folder / "dense.npy").write_bytes(b"broken")
    cs._LOADED.clear()
    cs._SEARCHERS.clear()
    code, out, err = run(capfd, "search", "gradients", "--collection", "notes", "--json")
    assert code == 3 and "coach index --collection notes --rebuild" in err
    code, out, err = run(capfd, "index", "--collection", "notes", "--rebuild", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["built"] and summary["chunks"] == 5 and summary["index_dir"] == str(folder)
    code, out, _ = run(capfd, "search", "gradients", "--collection", "notes", "--json")
    assert code == 0 and json.loads(out)["hits"]


def test_cli_search_handbook_is_the_default_and_keeps_short_ids(monkeypatch, capfd):
    from coach.search.searcher import Hit, SearchResult

    class FakeSearcher:
        def search(self, text, k):
            return SearchResult(text, True, 0.0, (Hit("Q17", "Q17#1", "Title", 0.9, 1),))

    monkeypatch.setattr("coach.search.searcher.get_searcher", lambda cfg: FakeSearcher())
    for extra in ([], ["--collection", "handbook"]):
        code, out, err = run(capfd, "search", "attention", "--json", *extra)
        assert code == 0, err
        result = json.loads(out)
        jsonschema.validate(result, schema("search"))
        assert [h["id"] for h in result["hits"]] == ["Q17"]


# -- the real embedder --------------------------------------------------------------------


@pytest.mark.real
@pytest.mark.skipif(not TUTORIAL_PAGE.is_file(), reason="python3.11-doc is not installed")
def test_real_minilm_finds_default_argument_values_in_the_tutorial():
    cfg = load_config()
    add(cfg, "tutorial", [TUTORIAL_PAGE])
    result = cs.search_collections(
        cfg, "how do I give a function parameter a default value", ["tutorial"], k=3
    )
    assert any("Default Argument Values" in h.heading_path[-1] for h in result.hits), [
        h.heading_path for h in result.hits
    ]
    assert result.in_scope
    off = cs.search_collections(cfg, "how long should I boil an egg", ["tutorial"], k=3)
    assert not off.in_scope


def test_doctor_checks_each_collection_and_its_index(notes):
    from coach import doctor

    cfg = load_config()
    add(cfg, "notes", [notes])

    def collection_checks():
        return {c.name: c for c in doctor.run_checks(cfg) if c.name.startswith("collection ")}

    missing = collection_checks()["collection notes"]
    assert not missing.ok and "coach index --collection notes" in missing.message
    # A MiniLM-keyed index, as the app builds it (vectors from the fake: only the files count).
    build = cs.build_index(cfg, "notes", embedder())
    key = cs.index_key(cs.read_manifest(cfg, "notes"), MODEL_ID)
    real = build.index.path.with_name(f"index-{key}")
    build.index.path.rename(real)
    manifest = json.loads((real / "manifest.json").read_text())
    (real / "manifest.json").write_text(json.dumps(manifest | {"embedder": MODEL_ID}))
    cs._LOADED.clear()
    assert collection_checks()["collection notes"].ok
    (real / "dense.npy").write_bytes(b"garbage")
    cs._LOADED.clear()
    broken = collection_checks()["collection notes"]
    assert not broken.ok and "damaged" in broken.message and "--rebuild" in broken.message


def test_embedding_progress_is_one_bar_on_a_terminal_and_plain_lines_in_a_log():
    import io

    from coach.cli.progress import ProgressPrinter

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, log = Terminal(), io.StringIO()
    for stream in (tty, log):
        printer = ProgressPrinter(stream)
        printer("==> index notes: embedding 300 chunks of 40 sections")
        printer("    embedded 256/300 chunks (20.0 chunks/s)")
        printer("    embedded 300/300 chunks (21.0 chunks/s)")
        printer("    index notes: 300 chunks in 15.0 s")
    assert "\r    [" in tty.getvalue() and " 85%  256/300 chunks" in tty.getvalue()
    assert "100%  300/300 chunks  21.0 chunks/s  done\n" in tty.getvalue()
    assert (
        "\r" not in log.getvalue() and "embedded 256/300 chunks (20.0 chunks/s)" in log.getvalue()
    )


def test_past_the_size_limit_the_index_carries_an_hnsw_graph_that_ranks_like_exact(
    notes, cards, monkeypatch
):
    from coach.search import ann

    cfg = load_config()
    add(cfg, "notes", [notes])
    exact = [h.id for h in search("learning rate warmup transformers", k=3).hits]
    monkeypatch.setattr(ann, "EXACT_MAX_CHUNKS", 3)  # the 5-chunk collection is now "large"
    build = cs.ensure_index(cfg, "notes", embedder(), rebuild=True)
    assert (build.index.path / ann.FILE).is_file() and build.index.graph is not None
    assert ann.FILE in json.loads((build.index.path / "manifest.json").read_text())["files"]
    cs._LOADED.clear()
    cs._SEARCHERS.clear()
    searcher = cs.get_collection_searcher(cfg, ["notes"], embedder())
    assert searcher.graph is not None  # loaded from disk, not rebuilt
    assert [h.id for h in searcher.search("learning rate warmup transformers", k=3).hits] == exact
    # candidates cover every chunk here, so cosines equal the exact product
    qv = np.asarray(embedder().embed(["dropout"])[0], dtype=np.float32)
    cos = ann.candidate_cosines(searcher.graph, searcher.vectors, qv, np.zeros(5))
    assert np.allclose(cos, searcher.vectors @ qv)
    (build.index.path / ann.FILE).write_bytes(b"not a graph")
    cs._LOADED.clear()
    with pytest.raises(SetupError, match="damaged"):
        cs.ensure_index(cfg, "notes", embedder())
