"""Errata: where the handbook is wrong, imprecise or dated, as data (`corpus/errata.json`).

Each erratum names its section, a verbatim span of that section, the correction, why, and the
basis ("first_principles" or "widely_reproduced"). Wherever the span reaches a user (an Ask
answer quoting it, the Handbook tab, the model answer of a mock interview) the correction is
shown beside it; rubric points reward the correction, not the span. A missing or malformed file
is a setup error, never an empty list: a silently missing erratum would teach the error.
Leaves out: how each screen shows a correction (the callers format it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from coach.config import CORPUS_DIR
from coach.errors import SetupError

ERRATA_PATH = CORPUS_DIR / "errata.json"
KINDS = ("wrong", "imprecise", "dated")
BASES = ("first_principles", "widely_reproduced")


@dataclass(frozen=True)
class Erratum:
    id: str  # "E12"
    question: str  # "Q17"
    span: str  # verbatim text of the section
    kind: str  # "wrong", "imprecise" or "dated"
    correction: str
    reason: str
    basis: str

    def note(self) -> str:
        """One line for the user.

        >>> Erratum("E1", "Q17", "x", "wrong", "It is the variance.", "r", "first_principles"
        ...         ).note()
        'Correction (the handbook is wrong here): It is the variance.'
        """
        return f"Correction (the handbook is {self.kind} here): {self.correction}"


def parse_errata(data: object) -> tuple[Erratum, ...]:
    """Validate the file's content; raise ValueError naming what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("errata"), list):
        raise ValueError('expected {"errata": [...]}')
    out = []
    for i, row in enumerate(data["errata"]):
        try:
            e = Erratum(**{k: row[k] for k in Erratum.__dataclass_fields__})
        except (KeyError, TypeError) as exc:
            raise ValueError(f"erratum {i}: missing or bad field ({exc})") from exc
        if e.kind not in KINDS or e.basis not in BASES or not e.span.strip():
            raise ValueError(f"{e.id}: kind must be one of {KINDS}, basis one of {BASES}")
        out.append(e)
    return tuple(out)


@lru_cache(maxsize=2)
def load_errata(path: Path = ERRATA_PATH) -> tuple[Erratum, ...]:
    try:
        return parse_errata(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise SetupError(
            f"The errata file {path} is missing ({exc.strerror}). Restore it: git checkout -- "
            "corpus/errata.json"
        ) from exc
    except ValueError as exc:
        raise SetupError(
            f"The errata file {path} is not valid ({exc}). Fix it or restore it: git checkout "
            "-- corpus/errata.json"
        ) from exc


def errata_in(text: str, section: str, errata: tuple[Erratum, ...] | None = None) -> list[Erratum]:
    """The errata of `section` whose span occurs in `text`.

    >>> e = Erratum("E1", "Q17", "expected value", "wrong", "variance", "r", "first_principles")
    >>> [x.id for x in errata_in("its expected value grows", "Q17", (e,))]
    ['E1']
    >>> errata_in("its expected value grows", "Q18", (e,))
    []
    """
    errata = load_errata() if errata is None else errata
    return [e for e in errata if e.question == section and e.span in text]


def annotate(text: str, section: str, errata: tuple[Erratum, ...] | None = None) -> str:
    """The text with each erratum's correction right after its span, in italics: how a
    handbook section is shown wherever a user reads it.

    >>> e = Erratum("E1", "Q17", "expected value", "wrong", "It is the variance.", "r",
    ...             "first_principles")
    >>> annotate("its expected value grows", "Q17", (e,))
    'its expected value *(Correction (the handbook is wrong here): It is the variance.)* grows'
    """
    errata = load_errata() if errata is None else errata
    for e in errata:
        if e.question == section and e.span in text:
            text = text.replace(e.span, f"{e.span} *({e.note()})*", 1)
    return text
