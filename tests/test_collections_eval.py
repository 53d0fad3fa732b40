"""The collections eval's scoring (coach/evals/collections.py), on small hand-made cases: how
generic sections are labelled with handbook ids, when a tutorial quote counts as found, and
the hit@k / MRR over ranked sections."""

from __future__ import annotations

from coach.config import load_config
from coach.evals import NOT_IN_ALL, SUITES
from coach.evals import collections as ev
from coach.sources import Section, add, load_sections


def test_generic_sections_of_the_handbook_are_labelled_by_the_lines_they_hold(tmp_path):
    cfg = load_config()
    home = tmp_path / "home"
    local = cfg.replace(home=home)
    add(local, "copy", [cfg.corpus_dir / "handbook.txt"])
    sections = load_sections(local, "copy")
    labels = ev.handbook_labels(cfg, sections)
    asked = {s.title: labels[s.id] for s in sections if s.question_like}
    assert len(asked) == 50
    assert asked["In simple terms, what is an LLM (large language model)?"] >= {"Q01"}
    # The part intro printed between two answers is held by the answer before it.
    assert any("P2" in ids for ids in labels.values())


def test_a_quote_counts_when_the_section_holds_it_or_either_end_of_it():
    s = Section("s1", "a.html", "/a.html", ("H",), "H", "Alpha beta\n gamma delta. " * 3, 0, 1)
    assert ev._holds(s, "alpha  beta gamma")
    long_quote = "Alpha beta gamma delta. " * 2 + "a tail that runs into the next section"
    assert ev._holds(s, long_quote)  # its first 40 characters are here
    assert not ev._holds(s, "something else entirely, not in this section at all")


def test_hit_at_k_and_mrr_over_sections_holding_several_ids():
    ranks = [[{"Q02"}, {"Q01", "P1"}], [{"Q05"}], [set(), {"Q09"}]]
    golds = [{"P1"}, {"Q05"}, {"Q07"}]
    m = ev._metrics(ranks, golds)
    assert m["hit@1"] == round(1 / 3, 4) and m["hit@3"] == round(2 / 3, 4)
    assert m["mrr@10"] == round((0.5 + 1.0) / 3, 4)


def test_the_collections_suite_is_listed_but_not_part_of_all():
    assert SUITES["collections"] == "coach.evals.collections" and "collections" in NOT_IN_ALL
