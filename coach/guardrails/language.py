"""A cheap "is this English?" heuristic for the `non_english` flag.

The coach's handbook, prompts and grader are English-only, so a question in another language
gets a caveat rather than a silently worse answer. No language-ID model ships in the registry;
two signals are enough here: the share of Latin letters (Cyrillic, CJK, Arabic ... fail it) and,
for Latin-script text, function words of the languages most often confused with English.
Leaves out: translation, and short inputs (under ~12 letters nothing is decided).
"""

from __future__ import annotations

import re

_FOREIGN_FUNCTION_WORDS = frozenset(
    # French, Spanish, German, Italian, Portuguese, Dutch words that are not English words.
    "le les des est une et que pour dans avec sont cette qui pas je vous nous ce du au "
    "el los las es y por para con una del como pero más qué cómo está también "
    "der die das und ist nicht ein eine mit für auf sich dem den wie ich sie "
    "il che di per non della sono una gli anche come perché questo "
    "o os um não com uma são isso é você "
    "het een van niet zijn dat ik wat hoe".split()
)
_ENGLISH_FUNCTION_WORDS = frozenset(
    "the a an and or of to in is are was were what how why which with for on that this it "
    "you i do does can between from by be as at not".split()
)
_WORD = re.compile(r"[^\W\d_]+")


def latin_share(text: str) -> float:
    """Share of letters that are Latin script (1.0 when there are too few letters to judge).

    >>> latin_share("Что такое внимание в трансформерах?")
    0.0
    """
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 12:
        return 1.0
    # U+0000..U+024F covers ASCII, Latin-1 and Latin Extended A/B (accents, ß, ø).
    return sum(1 for c in letters if c <= "\u024f") / len(letters)


def looks_non_english(text: str, min_latin_share: float = 0.6) -> bool:
    """True when the text is clearly not English.

    >>> looks_non_english("Qu'est-ce que l'attention dans les transformers et pour quoi?")
    True
    >>> looks_non_english("What is the attention mechanism in transformers?")
    False
    """
    if latin_share(text) < min_latin_share:
        return True
    words = [w.lower() for w in _WORD.findall(text[:2000])]
    if len(words) < 5:
        return False
    foreign = sum(1 for w in words if w in _FOREIGN_FUNCTION_WORDS)
    english = sum(1 for w in words if w in _ENGLISH_FUNCTION_WORDS)
    return foreign >= 3 and foreign > 2 * english
