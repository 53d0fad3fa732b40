"""The sentence gate of generated answers: nothing the model writes reaches the user unchecked.

Generated text is held back until a sentence is complete; the sentence is then aligned to the
source statements (align.py) and shown as written if it restates one faithfully (`quoted`),
replaced by the statement it garbled, marked "↺", if it restates one unfaithfully (`garbled`:
a swapped role, an inverted direction, a changed number), or dropped if no statement says it
(`unsupported`). Its citation is the section of the statement it aligns to, whatever bracket
the model wrote; the gate counts how often the two disagree. A sentence that names the abstain
marker, in any case or spacing, ends the answer as an abstention.
Leaves out: what happens when nothing survives (the pipeline shows the handbook instead).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from coach.ask.align import AlignSettings, align
from coach.handbook import Statement

# A sentence ends at . ! or ?, optionally followed by the model's citation, then whitespace.
_END = re.compile(r"([.!?])(\s*\[(?:[QP]\d{1,2})(?:\s*[,;]\s*[QP]\d{1,2})*\])?\s+(?=[^\s\[])")
_BRACKET = re.compile(r"\s*\[(?:[QP]\d{1,2})(?:\s*[,;]\s*[QP]\d{1,2})*\]")
_CITED = re.compile(r"[QP]\d{1,2}")
_MARKUP = re.compile(r"\*\*|__|^\s*(?:[-*•]|\d{1,2}[.)])\s+")
ABSTAIN = re.compile(r"not[\s_\-]*in[\s_\-]*(?:the[\s_\-]*)?handbook", re.IGNORECASE)


@dataclass
class GateReport:
    shown: list[str] = field(default_factory=list)  # what reached the user, sentence by sentence
    verdicts: list[dict] = field(default_factory=list)  # per model sentence
    abstained: bool = False

    def count(self, verdict: str) -> int:
        return sum(v["verdict"] == verdict for v in self.verdicts)

    @property
    def bracket_disagreements(self) -> int:
        """Shown sentences whose model-written bracket named another section than alignment."""
        return sum(
            1
            for v in self.verdicts
            if v["verdict"] != "unsupported" and v["bracket"] and v["section"] not in v["bracket"]
        )

    def note(self) -> str:
        """The visible line that says what the gate changed ("" when nothing).

        >>> r = GateReport(verdicts=[{"verdict": "garbled"}, {"verdict": "unsupported"}])
        >>> print(r.note())  # doctest: +NORMALIZE_WHITESPACE
        (Checked against the handbook: 1 sentence replaced by the handbook's own wording (↺),
        1 dropped because the handbook does not say it.)
        """
        parts = []
        if n := self.count("garbled"):
            s = "" if n == 1 else "s"
            parts.append(f"{n} sentence{s} replaced by the handbook's own wording (↺)")
        if n := self.count("unsupported"):
            parts.append(f"{n} dropped because the handbook does not say it")
        return f"(Checked against the handbook: {', '.join(parts)}.)" if parts else ""


class SentenceGate:
    """Feed generated pieces; complete sentences are checked and emitted through `emit`."""

    def __init__(
        self,
        statements: Sequence[Statement],
        emit: Callable[[str], None] | None = None,
        settings: AlignSettings | None = None,
    ):
        self.statements = list(statements)
        self.emit = emit
        self.settings = settings or AlignSettings()
        self.buffer = ""
        self.report = GateReport()
        self._used: set[str] = set()

    def feed(self, piece: str) -> None:
        if self.report.abstained:
            return
        self.buffer += piece
        while (m := _END.search(self.buffer)) is not None:
            sentence = self.buffer[: m.start(1) + 1]
            self.buffer = self.buffer[m.end() :]
            self._check(sentence, m.group(2) or "")

    def finish(self) -> GateReport:
        rest, self.buffer = self.buffer.strip(), ""
        if rest and not self.report.abstained:
            self._check(rest, "")
        return self.report

    def _check(self, sentence: str, bracket: str) -> None:
        if ABSTAIN.search(sentence):
            self.report.abstained = True
            return
        bracket += " ".join(_BRACKET.findall(sentence))
        text = re.sub(r"\s+([.!?,;:])", r"\1", _MARKUP.sub("", _BRACKET.sub("", sentence))).strip()
        if not re.search(r"[A-Za-z]{2}", text):
            return
        a = align(text, self.statements, self.settings)
        section = a.statement.section if a.statement else ""
        self.report.verdicts.append(
            {
                "sentence": text,
                "verdict": a.verdict,
                "reason": a.reason,
                "statement": a.statement.id if a.statement else None,
                "section": section,
                "bracket": _CITED.findall(bracket),
            }
        )
        if a.verdict == "unsupported" or a.statement.id in self._used:
            return
        self._used.add(a.statement.id)
        if a.verdict == "quoted":
            shown = f"{text} [{section}]"
        else:
            shown = f"{a.statement.text.rstrip()} [{section}] ↺"
        self.report.shown.append(shown)
        if self.emit:
            self.emit(("" if len(self.report.shown) == 1 else " ") + shown)
