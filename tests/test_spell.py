"""Typo correction (coach/search/spell.py): corrects misspelt handbook words, leaves names alone."""

from collections import Counter

import pytest

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
    # Empty only when the model package is missing; then nothing is treated as English.
    assert not words or {"told", "pain", "chat"} <= words
