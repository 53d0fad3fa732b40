"""Your own material (coach/sources): reading each format, refusing bad input, sections from
structure with exact spans, the collection store, and the add/collections/remove commands."""

from __future__ import annotations

import io
import json
import os
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coach.config import load_config
from coach.errors import BadInput, SetupError, UsageError
from coach.sources import (
    MAX_FILE_BYTES,
    add,
    check_name,
    default_name,
    list_collections,
    load_sections,
    read_document,
    read_manifest,
    remove,
    split_document,
)
from coach.sources import store as store_module
from coach.sources.html_text import extract_html
from coach.sources.markdown import find_headings
from coach.sources.records import Document
from coach.sources.windows import windows
from tests.conftest import run_cli

TUTORIAL = Path("/usr/share/doc/python3.11/html/tutorial/controlflow.html")


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def sections_of(path: Path):
    doc = read_document(path)
    sections = split_document(doc)
    for s in sections:  # the span property, checked on every example below
        assert s.text == doc.text[s.start : s.end] and s.text == s.text.strip() and s.text
    assert [s.id for s in sections] == [f"s{i}" for i in range(1, len(sections) + 1)]
    return doc, sections


def prose(n: int, word: str = "word") -> str:
    return " ".join(f"Sentence {i} has a {word} in it." for i in range(n))


def pdf_bytes(pages: list[str]) -> bytes:
    """A PDF whose pages carry `pages` as text (an empty string: a page with no text layer).

    pypdf has no public call for drawing text, so each page's content stream is written by hand
    (`_add_object` is the writer's only way to register a new object)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for text in pages:
        page = writer.add_blank_page(612, 792)
        if not text:
            continue
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        lines = " ".join(f"({line}) Tj 0 -16 Td" for line in text.split("\n"))
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 11 Tf 72 720 Td {lines} ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# -- formats ------------------------------------------------------------------------------


def test_markdown_sections_keep_the_heading_path(tmp_path):
    md = write(
        tmp_path / "guide.md",
        "Preface line.\n\n# Guide\n\nWelcome.\n\n## Install\n\nGet it.\n\n### Linux\n\n"
        "apt install it\n\n```sh\n# not a heading\n```\n\n## Use\nRun it.\n",
    )
    doc, sections = sections_of(md)
    assert doc.kind == "markdown"
    assert [s.heading_path for s in sections] == [
        (),
        ("Guide",),
        ("Guide", "Install"),
        ("Guide", "Install", "Linux"),
        ("Guide", "Use"),
    ]
    assert sections[0].title == "guide" and sections[0].text == "Preface line."
    assert sections[3].text.startswith("### Linux") and "# not a heading" in sections[3].text
    assert sections[1].source == "guide.md" and sections[1].path == str(md.absolute())
    assert not any(s.question_like for s in sections)


def test_setext_headings_and_markup_in_titles():
    heads = find_headings("Title\n=====\n\ntext\n\nThe `for` *loop*\n---\n\n- item\n---\n")
    assert [(h.level, h.title) for h in heads] == [(1, "Title"), (2, "The for loop")]


def test_plain_text_without_structure_becomes_overlapping_windows(tmp_path):
    text = "\n\n".join(prose(8, f"topic{i}") for i in range(30))
    doc, sections = sections_of(write(tmp_path / "notes.txt", text))
    assert len(sections) > 3
    assert all(len(s.text) <= 1500 for s in sections)
    assert sections[0].title == f"notes (1/{len(sections)})" and sections[0].heading_path == ()
    for a, b in zip(sections, sections[1:], strict=False):
        assert a.start < b.start < a.end  # consecutive windows overlap
    assert sections[0].start == 0 and sections[-1].end == len(doc.text)


def test_long_heading_section_is_windowed_and_keeps_its_path(tmp_path):
    doc, sections = sections_of(
        write(tmp_path / "g.md", f"# Guide\n\n## Deep\n\n{prose(100)}\n\n## Short\n\nok\n")
    )
    deep = [s for s in sections if s.heading_path == ("Guide", "Deep")]
    assert len(deep) >= 3 and deep[0].title.startswith("Deep (1/")
    assert deep[0].text.startswith("## Deep")
    assert sections[-1].heading_path == ("Guide", "Short")


def test_html_visible_text_only_with_headings(tmp_path):
    html = write(
        tmp_path / "page.html",
        """<html><head><title>T</title><style>p {color: red}</style></head><body>
        <nav><a href="/">Home</a></nav><div class="sidebar">Sidebar links</div>
        <div role="navigation">Prev | Next</div><script>var x = "<p>no</p>";</script>
        <main><h1>Guide<a class="headerlink" href="#g">¶</a></h1><p>Intro &amp; more
        text.</p><h2>Install</h2><ul><li><p>first</p></li><li>second</li></ul>
        <h3>Linux</h3><pre>apt  install\n  it</pre><ol><li>one</li><li>two</li></ol>
        <p hidden>secret</p></main><footer>Copyright</footer></body></html>""",
    )
    doc, sections = sections_of(html)
    assert doc.kind == "html"
    for chrome in ("Home", "Sidebar", "Prev", "var x", "color", "¶", "secret", "Copyright", "T\n"):
        assert chrome not in doc.text
    assert "Intro & more text." in doc.text and "- first\n\n- second" in doc.text
    assert "apt  install\n  it" in doc.text and "1. one\n\n2. two" in doc.text
    assert [s.heading_path for s in sections] == [
        ("Guide",),
        ("Guide", "Install"),
        ("Guide", "Install", "Linux"),
    ]


def test_pdf_text_layer(tmp_path):
    pages = ["Q: What is bias?\nA: Error from assumptions.", "Q: Why?"]
    pdf = write(tmp_path / "bank.pdf", pdf_bytes(pages))
    doc, sections = sections_of(pdf)
    assert doc.kind == "pdf" and "What is bias?" in doc.text
    assert [s.title for s in sections] == ["What is bias?", "Why?"]
    assert all(s.question_like for s in sections)


def test_scanned_pdf_says_to_run_ocr(tmp_path):
    pdf = write(tmp_path / "scan.pdf", pdf_bytes(["", ""]))
    with pytest.raises(BadInput, match=r"scan\.pdf has no text layer.*OCR"):
        read_document(pdf)


def test_corrupt_pdf_names_the_file_and_the_reason(tmp_path):
    pdf = write(tmp_path / "broken.pdf", b"%PDF-1.4\nnot really a pdf\n")
    with pytest.raises(BadInput, match=r"broken\.pdf could not be read as a PDF \(pypdf: .+\)"):
        read_document(pdf)


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"  \n\n\t"])
def test_empty_file(tmp_path, content):
    with pytest.raises(BadInput, match="is empty") as err:
        read_document(write(tmp_path / "e.md", content))
    assert err.value.code == "empty"


def test_html_without_visible_text_is_empty(tmp_path):
    with pytest.raises(BadInput, match="no visible text"):
        read_document(write(tmp_path / "e.html", "<script>x()</script><nav>Home</nav>"))


def test_file_over_the_size_limit(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(BadInput, match="the limit is 50 MB per file") as err:
        read_document(big)
    assert err.value.code == "size_limit"


@pytest.mark.parametrize(
    "content, reason",
    [(b"PK\x03\x04\x00\x00zip data", "NUL bytes"), (bytes(range(1, 9)) * 50, "control characters")],
)
def test_binary_file_renamed_to_text(tmp_path, content, reason):
    with pytest.raises(BadInput, match=f"does not look like markdown text: .*{reason}"):
        read_document(write(tmp_path / "photo.md", content))


def test_non_utf8_text_is_decoded_with_a_replacement_count(tmp_path):
    path = write(tmp_path / "latin.txt", "Caf\xe9 cr\xe8me, na\xefve.\n".encode("latin-1"))
    doc = read_document(path)
    assert doc.replacements == 3 and doc.text == "Caf\ufffd cr\ufffdme, na\ufffdve.\n"
    summary = add(load_config(), "latin", [path])
    assert summary.replacements == 3
    assert read_manifest(load_config(), "latin").files[0].replacements == 3


def test_unknown_extension_and_missing_path(tmp_path):
    with pytest.raises(BadInput, match=r"unsupported file type '\.docx'.*\.md, \.markdown"):
        read_document(write(tmp_path / "cv.docx", "x"))
    with pytest.raises(BadInput, match="No such file or folder"):
        add(load_config(), "x", [tmp_path / "nope.md"])


@pytest.mark.parametrize(
    "name", ["", "Notes", "../x", "a/b", "a.b", ".hidden", "-x", "handbook", "x" * 41, "é"]
)
def test_unsafe_collection_names_are_refused(name):
    with pytest.raises(UsageError, match="Fix:"):
        check_name(name)


def test_default_names(tmp_path):
    assert check_name("x" * 40) == "x" * 40
    assert default_name(tmp_path / "ML Notes (v2).md") == "ml-notes-v2"
    with pytest.raises(UsageError, match="pass --name"):
        default_name(tmp_path / "handbook.md")
    with pytest.raises(UsageError, match="pass --name"):
        default_name(tmp_path / "¿¿.md")


# -- structure ----------------------------------------------------------------------------


def test_qa_lists_become_question_sections(tmp_path):
    text = (
        "Interview bank for ML.\n\nQ: What is overfitting?\nA: Fitting noise.\n\n"
        "**Q2:** How do you detect it?\nA: Validation loss rises.\n"
    )
    _, sections = sections_of(write(tmp_path / "bank.txt", text))
    assert [(s.title, s.question_like) for s in sections] == [
        ("bank", False),
        ("What is overfitting?", True),
        ("How do you detect it?", True),
    ]
    assert sections[1].text == "Q: What is overfitting?\nA: Fitting noise."


def test_numbered_questions_under_a_heading(tmp_path):
    text = (
        "# Bank\n\n## Basics\n\n1. What is a token?\nA unit of text.\n\n"
        "2) Why batch requests?\n\nThroughput.\n\n## Steps\n\n1. Install it.\n2. Run it.\n"
    )
    _, sections = sections_of(write(tmp_path / "bank.md", text))
    qs = [s for s in sections if s.question_like]
    assert [s.title for s in qs] == ["What is a token?", "Why batch requests?"]
    assert all(s.heading_path == ("Bank", "Basics") for s in qs)
    assert qs[1].text == "2) Why batch requests?\n\nThroughput."
    steps = sections[-1]
    assert steps.heading_path == ("Bank", "Steps") and not steps.question_like


def test_a_question_heading_is_question_like(tmp_path):
    _, sections = sections_of(write(tmp_path / "q.md", "## What is RAG?\n\nRetrieval first.\n"))
    assert sections[0].question_like and sections[0].title == "What is RAG?"


def test_windows_worked_example():
    text = "aaaa bbbb. cccc dddd. eeee ffff. gggg hhhh."
    # Cuts fall on the last sentence end of each window; each next window starts at the first
    # sentence start within the 11 characters before the cut; the 21-character rest is whole.
    assert [text[a:b] for a, b in windows(text, size=24, overlap=11)] == [
        "aaaa bbbb. cccc dddd.",
        "cccc dddd. eeee ffff.",
        "eeee ffff. gggg hhhh.",
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("ab .?\n\t"), max_size=400),
    st.integers(10, 60),
    st.data(),
)
def test_windows_cover_the_text(text, size, data):
    overlap = data.draw(st.integers(0, size // 2 - 1))
    spans = windows(text, size=size, overlap=overlap)
    for a, b in spans:
        assert 0 <= a < b <= len(text) and text[a:b] == text[a:b].strip()
        assert b - a <= size + size // 4
    assert [a for a, _ in spans] == sorted({a for a, _ in spans})
    covered = {i for a, b in spans for i in range(a, b)}
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


_PIECES = st.sampled_from(
    [
        "# Title",
        "## Sub ?",
        "### Deep",
        "Setext\n-----",
        "```\n# code\n```",
        "Q: Why is the sky blue?",
        "A: Rayleigh scattering.",
        "1. What is a vector?",
        "2) How big?",
        "- a list item",
        "Plain sentence. Another one!",
        "word " * 70,
        "",
        "   ",
        "<p>para</p>",
        "<h2>Head</h2>",
        "<nav>skip</nav>",
        "<pre>  code\n  more</pre>",
        "caf\ufffd",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_PIECES, max_size=40), st.sampled_from(["\n", "\n\n", "\r\n"]))
def test_every_section_is_an_exact_span(pieces, sep):
    raw = sep.join(pieces)
    for kind in ("markdown", "text", "html"):
        text, headings = raw.replace("\r\n", "\n"), find_headings(raw.replace("\r\n", "\n"))
        if kind == "html":
            text, headings = extract_html(raw)
        elif kind == "text":
            headings = ()
        doc = Document(Path("/x/d.md"), "d.md", kind, text, "0" * 64, 1, 0, headings)
        sections = split_document(doc)
        assert sections == split_document(doc)  # stable for identical input
        for s in sections:
            assert s.text == text[s.start : s.end] and s.text.strip() == s.text != ""
        assert [s.id for s in sections] == [f"s{i}" for i in range(1, len(sections) + 1)]
        non_blank = {i for i, ch in enumerate(text) if not ch.isspace()}
        covered = {i for s in sections for i in range(s.start, s.end)}
        heading_chars = {i for h in headings for i in range(h.start, h.end)}
        assert non_blank - heading_chars <= covered  # only bare headings may go uncovered


@pytest.mark.skipif(not TUTORIAL.is_file(), reason="python3.11-doc is not installed")
def test_the_python_tutorial_page():
    doc, sections = sections_of(TUTORIAL)
    assert "Table of Contents" not in doc.text and "Navigation" not in doc.text
    paths = [s.heading_path for s in sections]
    assert any(p[-1].startswith("4.4. break and continue Statements") for p in paths)
    assert ("4. More Control Flow Tools", "4.8. More on Defining Functions") + (
        "4.8.3. Special parameters",
        "4.8.3.2. Positional-Only Parameters",
    ) in paths
    assert all(p and p[0] == "4. More Control Flow Tools" for p in paths)
    assert ">>> for w in words:" in doc.text  # code keeps its lines


# -- the collection store -----------------------------------------------------------------


@pytest.fixture
def notes(tmp_path) -> Path:
    folder = tmp_path / "notes"
    write(folder / "a.md", "# Alpha\n\nFirst note.\n\n## Beta\n\nSecond note.\n")
    write(folder / "sub" / "b.txt", "Q: What is X?\nA: A thing.\nQ: And Y?\nA: Another.\n")
    write(folder / "c.html", "<h1>Gamma</h1><p>Third note.</p>")
    write(folder / "ignored.docx", "not ingested")
    write(folder / ".hidden" / "d.md", "# hidden")
    return folder


def test_add_a_folder_writes_manifest_and_sections(notes):
    cfg = load_config()
    lines: list[str] = []
    summary = add(cfg, "notes", [notes], progress=lines.append)
    assert summary.added == ("notes/a.md", "notes/c.html", "notes/sub/b.txt")
    assert (summary.files, summary.sections) == (3, 5) and lines[0].startswith("[1/3] notes/a.md")
    manifest = json.loads((cfg.home / "collections" / "notes" / "manifest.json").read_text())
    assert manifest["name"] == "notes" and manifest["sections"] == 5
    assert manifest["coach_version"] and manifest["built_at"]
    first = manifest["files"][0]
    assert first["path"] == str((notes / "a.md").resolve()) and len(first["sha256"]) == 64
    assert first["size"] == (notes / "a.md").stat().st_size and first["added_at"]
    sections = load_sections(cfg, "notes")
    assert [s.id for s in sections] == ["s1", "s2", "s3", "s4", "s5"]
    assert [s.source for s in sections] == ["notes/a.md"] * 2 + ["notes/c.html"] + [
        "notes/sub/b.txt"
    ] * 2
    assert [c.summary() for c in list_collections(cfg)] == [
        {"name": "notes", "files": 3, "sections": 5, "built_at": manifest["built_at"]}
    ]


def test_re_adding_skips_identical_files_and_updates_changed_ones(notes):
    cfg = load_config()
    add(cfg, "notes", [notes])
    manifest = cfg.home / "collections" / "notes" / "manifest.json"
    before = manifest.read_bytes()
    again = add(cfg, "notes", [notes])
    assert again.added == again.updated == ()
    assert [s["reason"] for s in again.skipped] == ["unchanged"] * 3
    assert manifest.read_bytes() == before  # nothing rewritten

    write(notes / "a.md", "# Alpha\n\nRewritten note.\n")
    write(notes / "copy.md", "# Alpha\n\nRewritten note.\n")
    changed = add(cfg, "notes", [notes])
    assert changed.updated == ("notes/a.md",)
    assert {"source": "notes/copy.md", "reason": "duplicate of notes/a.md"} in changed.skipped
    sections = load_sections(cfg, "notes")
    texts = " ".join(s.text for s in sections)
    assert "Rewritten" in texts and "First note" not in texts and "Second note" not in texts
    assert [s.id for s in sections] == [f"s{i}" for i in range(1, len(sections) + 1)]
    assert sections[0].source == "notes/a.md"  # an updated file keeps its place
    assert len(list(manifest.parent.iterdir())) == 2  # the old sections file was cleaned up


def test_identical_input_gives_identical_sections(notes):
    cfg = load_config()
    add(cfg, "one", [notes])
    add(cfg, "two", [notes])
    assert load_sections(cfg, "one") == load_sections(cfg, "two")


def test_bad_files_in_a_folder_are_rejected_but_named_files_stop_the_add(notes):
    cfg = load_config()
    write(notes / "empty.md", "")
    summary = add(cfg, "notes", [notes])
    assert summary.files == 3
    assert summary.rejected[0]["source"] == "notes/empty.md"
    assert "empty" in summary.rejected[0]["error"]
    with pytest.raises(BadInput, match="empty.md is empty"):
        add(cfg, "other", [notes / "a.md", notes / "empty.md"])
    assert [c.name for c in list_collections(cfg)] == ["notes"]  # nothing written


def test_remove(notes):
    cfg = load_config()
    add(cfg, "notes", [notes])
    remove(cfg, "notes")
    assert list_collections(cfg) == [] and not (cfg.home / "collections" / "notes").exists()
    assert [p for p in (cfg.home / "collections").iterdir() if p.suffix != ".lock"] == []
    with pytest.raises(BadInput, match="No collection named 'notes'"):
        remove(cfg, "notes")


def test_a_damaged_collection_says_how_to_fix_it_and_can_be_removed(notes):
    cfg = load_config()
    add(cfg, "notes", [notes])
    folder = cfg.home / "collections" / "notes"
    sections_file = next(folder.glob("sections-*.jsonl"))
    sections_file.write_text(sections_file.read_text() + "{}\n")
    with pytest.raises(SetupError, match="sha256 does not match.*coach remove notes"):
        load_sections(cfg, "notes")
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(SetupError, match="collection 'notes' is damaged.*coach remove notes"):
        list_collections(cfg)
    with pytest.raises(SetupError, match="add its files again"):
        add(cfg, "notes", [notes])
    remove(cfg, "notes")
    assert list_collections(cfg) == []


@pytest.mark.parametrize("fail_on", ["sections", "manifest"])
def test_a_failed_write_leaves_the_previous_collection(notes, monkeypatch, fail_on):
    cfg = load_config()
    add(cfg, "notes", [notes])
    folder = cfg.home / "collections" / "notes"
    manifest_before = (folder / "manifest.json").read_bytes()
    sections_before = load_sections(cfg, "notes")
    real_replace = os.replace

    def dying_replace(src, dst):
        target = Path(dst).name
        if target.startswith("sections-" if fail_on == "sections" else "manifest"):
            raise OSError("disk full (simulated)")
        real_replace(src, dst)

    monkeypatch.setattr(store_module.os, "replace", dying_replace)
    write(notes / "a.md", "# Alpha\n\nChanged.\n")
    with pytest.raises(OSError, match="simulated"):
        add(cfg, "notes", [notes])
    assert (folder / "manifest.json").read_bytes() == manifest_before
    assert load_sections(cfg, "notes") == sections_before
    assert not list(folder.glob(".*.tmp"))
    monkeypatch.setattr(store_module.os, "replace", real_replace)
    assert add(cfg, "notes", [notes]).updated == ("notes/a.md",)
    assert len(list(folder.iterdir())) == 2


# -- the command line ---------------------------------------------------------------------


def schema(name: str) -> dict:
    return json.loads(resources.files("coach.cli").joinpath(f"schemas/{name}.json").read_text())


def test_cli_add_collections_remove_json(notes):
    r = run_cli("add", str(notes), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    jsonschema.validate(out, schema("add"))
    assert out["name"] == "notes" and out["sections"] == 5
    assert b"[1/3] notes/a.md: 2 sections" in r.stderr
    r = run_cli("collections", "--json")
    listing = json.loads(r.stdout)
    jsonschema.validate(listing, schema("collections"))
    assert [c["name"] for c in listing["collections"]] == ["notes"]
    r = run_cli("remove", "notes", "--json")
    jsonschema.validate(json.loads(r.stdout), schema("remove"))
    r = run_cli("remove", "notes", "--json")
    assert r.returncode == 4
    jsonschema.validate(json.loads(r.stdout), schema("error"))


def test_cli_text_mode_and_exit_codes(notes, tmp_path):
    r = run_cli("add", str(notes / "a.md"), str(notes / "c.html"), "--name", "mine")
    assert r.returncode == 0 and b"Collection mine: 2 files, 3 sections" in r.stdout
    r = run_cli("collections")
    assert r.stdout.decode().splitlines()[1].split()[:3] == ["mine", "2", "3"]
    assert run_cli("add", str(notes), "--name", "../escape").returncode == 2
    assert run_cli("add", str(tmp_path / "missing.md")).returncode == 4
    r = run_cli("add", str(write(tmp_path / "bin.md", b"\x00\x01\x02")), "--json")
    assert r.returncode == 4 and json.loads(r.stdout)["error"]["code"] == "bad_input"
    assert b"Traceback" not in r.stderr
    assert run_cli("add").returncode == 2


def test_a_second_writer_of_the_same_collection_is_told_to_wait(notes):
    from coach.sources.store import collection_lock

    cfg = load_config()
    add(cfg, "notes", [notes])
    with collection_lock(cfg, "notes"):  # another process's add, as far as flock can tell
        with pytest.raises(UsageError, match="being changed by another coach process"):
            add(cfg, "notes", [notes])
        with pytest.raises(UsageError, match="being changed"):
            remove(cfg, "notes")
        add(cfg, "other", [notes])  # other collections are not held up
    assert add(cfg, "notes", [notes]).skipped  # free again once the first writer is done
    assert [c.name for c in list_collections(cfg)] == ["notes", "other"]
