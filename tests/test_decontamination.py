"""One shared decontamination check over every pair of training and eval files: no training or
tuning text overlaps an eval text (MiniLM cosine >= 0.8, or 5-gram Jaccard >= 0.5 on the sorted
word sets, so a reordered copy counts). Uses the real embedder: a hash fake would pass anything."""

from coach.evals.overlap import TRAINING_FILES, check, eval_texts, overlapping
from coach.search import default_embedder


def test_the_check_catches_a_reordered_copy_and_a_paraphrase():
    embed = default_embedder().embed
    refs = ["How does beam search differ from greedy decoding?"]
    copies = ["greedy decoding differ from beam search how does?",  # reordered
              "What is the difference between beam search and greedy decoding?"]  # fmt: skip
    found = overlapping(copies, refs, embed(copies), embed(refs))
    assert [f["candidate"] for f in found] == copies
    assert overlapping(["How do I bake sourdough?"], refs, embed(["How do I bake sourdough?"]),
                       embed(refs)) == []  # fmt: skip


def test_no_training_file_overlaps_any_eval_file():
    assert len(eval_texts()) > 2000  # every eval set is read, not just one
    report = check(default_embedder().embed, [p for p in TRAINING_FILES if p.exists()])
    assert report, "no training file was checked"
    bad = {name: found[:3] for name, found in report.items() if found}
    assert not bad, f"training rows that overlap eval rows (python -m coach.evals.overlap): {bad}"
