"""The handbook parser against the real handbook text and its hand-checked table overlay."""

import json
import shutil

import pytest

from coach.errors import BadInput, SetupError
from coach.handbook import Part, Question, load_handbook, normalize_id, parse

RAW_LINES = parse.DEFAULT_HANDBOOK.read_text(encoding="utf-8").splitlines()
OVERLAY = json.loads((parse.CORPUS_DIR / parse.OVERLAY_NAME).read_text(encoding="utf-8"))

# From the contents page, typed in by hand: part titles and their question ranges.
PARTS = {
    "P1": ("LLM Foundations", 1, 6),
    "P2": ("Architectures & Mechanisms", 7, 12),
    "P3": ("Transformers & Attention", 13, 18),
    "P4": ("Decoding & Generation", 19, 24),
    "P5": ("Training & Optimization", 25, 30),
    "P6": ("Evaluation & Fine-Tuning", 31, 36),
    "P7": ("Generative AI Concepts", 37, 42),
    "P8": ("Multimodal & Scaling", 43, 48),
    "P9": ("Safety & Production", 49, 50),
}
# Comparison tables whose source header has no top-left label (an empty corner cell).
CORNER_TABLES = {"Q10", "Q20", "Q22", "Q32", "Q37", "Q48"}


@pytest.fixture(scope="module")
def handbook():
    return load_handbook()


def test_fifty_questions_in_order_titled_as_in_the_contents(handbook):
    assert [q.id for q in handbook.questions] == [f"Q{n:02d}" for n in range(1, 51)]
    for q in handbook.questions:
        # The contents line reads "05Tokenization & why it matters".
        assert f"{q.number:02d}{q.title}" in RAW_LINES[:110], q.id
        # The question sentence is the first line after the "Q05" heading's blank line.
        heading = RAW_LINES.index(q.id)
        assert q.question == RAW_LINES[heading + 2]


def test_nine_parts_with_their_question_ranges(handbook):
    assert [p.id for p in handbook.parts] == list(PARTS)
    for part in handbook.parts:
        title, first, last = PARTS[part.id]
        assert part.title == title
        assert part.question_ids == tuple(f"Q{n:02d}" for n in range(first, last + 1))
        assert part.intro and part.intro in RAW_LINES
        assert all(handbook.question(qid).part == part.id for qid in part.question_ids)
    assert handbook.parts[0].topics[0] == "What is an LLM?"
    assert handbook.parts[8].topics[0] == "Output Safety"


def test_every_non_empty_line_is_in_exactly_one_record(handbook):
    seen: list[int] = []
    for record in handbook.records():
        seen += record.lines
    assert len(seen) == len(set(seen)), "a line belongs to two records"
    assert set(seen) == {n for n, text in enumerate(RAW_LINES, start=1) if text.strip()}
    assert sorted(seen) == seen, "records() is not in source order"


def test_front_and_back_matter(handbook):
    assert handbook.front_matter.text.startswith("Vibe Engines")
    assert handbook.front_matter.lines[-1] < handbook.parts[0].lines[0]
    assert handbook.back_matter.text.startswith("Complete\nAll 50 Questions.")
    assert handbook.back_matter.lines[-1] == len(RAW_LINES)


def test_tables_have_consistent_rows_and_columns(handbook):
    tables = [(q.id, t) for q in handbook.questions for t in q.tables]
    assert len(tables) == 33
    assert sum(len(t.rows) for _, t in tables) == 145
    for qid, table in tables:
        assert 2 <= len(table.header) <= 4, qid
        assert all(len(row) == len(table.header) for row in table.rows), qid
        assert all(table.header[1:]), qid
        assert (table.header[0] == "") == (qid in CORNER_TABLES), qid
        assert table.rows and all(any(row) for row in table.rows), qid


def test_overlay_entries_match_the_raw_lines():
    numbers = [entry["line"] for entry in OVERLAY["lines"]]
    assert numbers == sorted(set(numbers))
    for entry in OVERLAY["lines"]:
        assert entry["text"] == RAW_LINES[entry["line"] - 1]
        # A pure split: no cell separator was invented, nothing dropped, no edge spaces.
        assert "".join(entry["cells"]) == entry["text"]
        assert all(cell == cell.strip() for cell in entry["cells"]), entry["line"]


def test_every_question_has_a_tip(handbook):
    for q in handbook.questions:
        assert q.tip_label and q.tip, q.id
        assert f"{parse.TIP_MARK} {q.tip_label}" in RAW_LINES
    labels = {q.tip_label for q in handbook.questions}
    assert {"Interview Tip", "Key Insight", "Key Contrast", "Mental Model", "Core Idea"} <= labels


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("Q17", "Q17"), ("q17", "Q17"), ("17", "Q17"), ("Q7", "Q07"), ("7", "Q07"), ("Q01", "Q01")]
    + [("Q50", "Q50"), (" q05 ", "Q05"), ("P3", "P3"), ("p3", "P3"), ("P9", "P9")],
)
def test_normalize_id(ref, expected):
    assert normalize_id(ref) == expected


@pytest.mark.parametrize(
    "ref", ["Q51", "Q0", "0", "51", "P0", "P10", "foo", "", "Q17x", "Q-1", None]
)
def test_normalize_id_rejects_unknown_ids(ref):
    with pytest.raises(BadInput, match="Q01..Q50"):
        normalize_id(ref)


def test_lookup_by_reference(handbook):
    assert handbook.question("q17").id == "Q17"
    assert isinstance(handbook.section("p3"), Part)
    assert isinstance(handbook.section("17"), Question)
    with pytest.raises(BadInput, match="part intro"):
        handbook.question("P3")
    with pytest.raises(BadInput):
        handbook.section("Q51")


def test_hand_checked_spot_checks(handbook):
    q05 = handbook.question("Q05")
    assert (q05.title, q05.tip_label) == ("Tokenization & why it matters", "Key Insight")
    assert q05.tip.startswith("Tokenization is the invisible bottleneck")
    q02 = handbook.question("Q02").tables[0]
    assert q02.header == ("Dimension", "Classic Models (n-gram, RNN)", "Modern LLMs (Transformer)")
    assert q02.rows[0] == (
        "Architecture",
        "n-grams, RNNs, LSTMs",
        "Transformers with self-attention",
    )
    assert handbook.question("Q07").tables[0].rows[0][2] == "GPT-2, GPT-3, GPT-4"
    assert handbook.question("Q14").tables[0].rows[2] == (
        "RoPE",
        "Rotates Q and K vectors by position",
        "Captures relative positions, extrapolates",
        "LLaMA, Mistral",
    )
    # Q09's diagram has arrow lines too; the tip is the last one.
    assert handbook.question("Q09").tip_label == "One-liner"
    assert "→ Can't see future" in handbook.question("Q09").body


def test_markdown_and_index_text(handbook):
    q17 = handbook.question("Q17").to_markdown()
    assert q17.startswith("## Q17 · Computing attention weights\n")
    assert "How are attention weights/scores computed at a high level?" in q17
    assert "**→ The Formula:** Memorize:" in q17
    # A pipe inside a cell must not split the markdown row.
    assert "| Decision boundary P(y\\|x) |" in handbook.question("Q37").body
    # A diagram line starting with "#" must not become a markdown heading.
    assert "- \\# Examples (few-shot)" in handbook.question("Q46").body
    text = handbook.question("Q02").text
    assert "Architecture | n-grams, RNNs, LSTMs | Transformers" in text
    assert "---" not in text and "**" not in text


def test_default_handbook_is_parsed_once():
    assert load_handbook() is load_handbook()


def _copy_corpus(tmp_path):
    for name in ("handbook.txt", parse.OVERLAY_NAME):
        shutil.copy(parse.CORPUS_DIR / name, tmp_path / name)
    return tmp_path / "handbook.txt"


def test_load_errors(tmp_path):
    with pytest.raises(SetupError, match="missing"):
        load_handbook(tmp_path / "nope.txt")
    path = _copy_corpus(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"Q01", b"Q\xff01", 1))
    with pytest.raises(SetupError, match="not UTF-8"):
        load_handbook(path)


def test_a_changed_table_line_makes_the_overlay_stale(tmp_path):
    path = _copy_corpus(tmp_path)
    assert load_handbook(path).question("Q02").tables[0].rows[0][0] == "Architecture"
    text = path.read_text(encoding="utf-8").replace("Architecturen-grams", "Architecture n-grams")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SetupError, match="line 143"):
        load_handbook(path)


def test_corpus_hash_covers_handbook_and_overlay(tmp_path):
    path = _copy_corpus(tmp_path)
    assert parse.corpus_hash(path) == parse.corpus_hash()
    overlay = tmp_path / parse.OVERLAY_NAME
    overlay.write_text(overlay.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert parse.corpus_hash(path) != parse.corpus_hash()
