"""Output guardrails on a model answer: citations, grounding, leaks, PII and toxicity.

`check_output` returns the cleaned answer (invalid citations removed, PII redacted, or the
refusal text when blocked) and a Verdict whose `text` is that same cleaned answer.
Grounding uses the shared support-score module through an injected callable
`support(sentences, sources) -> list[float]`, so this module does not depend on it.
Leaves out: judging faithfulness with an LLM (evals) and the scope decision (retrieval).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from coach.guardrails.actions import action_for
from coach.guardrails.classifiers import Guards
from coach.guardrails.config import DEFAULT_CONFIG, GuardConfig
from coach.guardrails.normalize import clean, fold
from coach.guardrails.pii import scrub_pii_kinds
from coach.guardrails.refusals import refusal_for
from coach.guardrails.verdict import FLAGS, Flag, Verdict

SupportFn = Callable[[Sequence[str], Sequence], Sequence[float]]

# A bracket holding one or more ids: [Q17], [Q7, Q21], [P3; Q01]. Anything else in brackets
# (markdown links, [0.1, 0.9]) is left alone.
_CITATION = re.compile(r"\s?\[((?:[QqPp]\d{1,3})(?:\s*[,;]\s*[QqPp]\d{1,3})*)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


def normalise_id(raw: str) -> str:
    """Canonical source id: Q ids are two digits, P ids one.

    >>> normalise_id("q7"), normalise_id("Q17"), normalise_id("p03")
    ('Q07', 'Q17', 'P3')
    """
    kind, num = raw[0].upper(), int(raw[1:])
    return f"Q{num:02d}" if kind == "Q" else f"P{num}"


def fix_citations(answer: str, source_ids: Sequence[str]) -> tuple[str, list[str], list[str]]:
    """Drop citations of ids that were not retrieved; return (text, valid ids, invalid ids).

    >>> fix_citations("Attention mixes values [Q15]. Softmax [Q99].", ["Q15"])
    ('Attention mixes values [Q15]. Softmax.', ['Q15'], ['Q99'])
    """
    allowed = {normalise_id(s) for s in source_ids if re.fullmatch(r"[QqPp]\d{1,3}", s)}
    valid: list[str] = []
    invalid: list[str] = []

    def repl(m: re.Match[str]) -> str:
        ids = [normalise_id(x) for x in re.split(r"\s*[,;]\s*", m.group(1))]
        keep = [i for i in ids if i in allowed]
        valid.extend(i for i in keep if i not in valid)
        invalid.extend(i for i in ids if i not in allowed and i not in invalid)
        if not keep:
            return ""
        lead = " " if m.group().startswith((" ", "\n", "\t")) else ""
        return lead + "".join(f"[{i}]" for i in keep)

    return _CITATION.sub(repl, answer), valid, invalid


def split_sentences(text: str) -> list[str]:
    """Split on sentence ends followed by a capital, digit or bracket.

    >>> split_sentences("LoRA is low-rank. It trains A and B! Why? Because.")
    ['LoRA is low-rank.', 'It trains A and B!', 'Why?', 'Because.']
    """
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def leaks_prompt(answer: str, secret_text: str, n_words: int) -> bool:
    """True if `n_words` consecutive words of `secret_text` appear in `answer` (case-folded).

    >>> leaks_prompt("Sure: you are a coach. Always cite the handbook sources.",
    ...              "You are a coach. Always cite the handbook sources.", 5)
    True
    """

    def words(s: str) -> list[str]:
        return re.findall(r"\w+", fold(s))

    secret = words(secret_text)
    if len(secret) < n_words:
        return False
    grams = {tuple(secret[i : i + n_words]) for i in range(len(secret) - n_words + 1)}
    said = words(answer)
    return any(tuple(said[i : i + n_words]) in grams for i in range(len(said) - n_words + 1))


def _canary_leaked(answer: str, canary: str) -> bool:
    if not canary:
        return False
    # Also catch a canary spelled out with spaces, dashes or mixed case.
    squash = re.compile(r"[\W_]+")
    return canary in answer or squash.sub("", fold(canary)) in squash.sub("", fold(answer))


def _flag(name: str, score: float, detail: str = "") -> Flag:
    return Flag(name, float(score), action_for(name, "output") or "flag", detail)


def check_output(
    answer: str,
    source_ids: Sequence[str],
    canary: str = "",
    *,
    support: SupportFn | None = None,
    sources: Sequence | None = None,
    system_prompt: str = "",
    guards: Guards | None = None,
    config: GuardConfig = DEFAULT_CONFIG,
) -> tuple[str, Verdict]:
    """Check a model answer; return (cleaned text, verdict). Never raises on any `str`.

    `source_ids` are the retrieved ids (e.g. ["Q17", "Q21"]); `sources` is what `support`
    receives (passages or ids, the support module's choice); `guards` supplies the toxicity
    scorer (skipped when None, so a caller without models can still check citations).

    >>> text, v = check_output("Attention mixes values [Q15][Q40].", ["Q15"], canary="ZX-42")
    >>> text, v.names
    ('Attention mixes values [Q15].', ('invalid_citation',))
    """
    text = clean(str(answer)[: config.max_output_chars])
    flags: list[Flag] = []
    if not text.strip():
        return _finish([_flag("empty", 1.0)], "")
    if _canary_leaked(text, canary) or (
        system_prompt and leaks_prompt(text, system_prompt, config.leak_ngram_words)
    ):
        return _finish([_flag("canary_leak", 1.0)], "")

    text, valid, invalid = fix_citations(text, source_ids)
    if invalid:
        flags.append(_flag("invalid_citation", 1.0, ",".join(invalid)))
    if not valid:
        flags.append(_flag("no_citation", 1.0))

    text, pii_kinds = scrub_pii_kinds(text)
    if pii_kinds:
        flags.append(_flag("pii", 1.0, ",".join(pii_kinds)))

    if guards is not None:
        tox = guards.toxicity.score(text)
        if tox >= config.toxicity_threshold:
            flags.append(_flag("toxicity", tox))

    if support is not None:
        sentences = split_sentences(_CITATION.sub("", text))
        scores = list(support(sentences, list(sources or source_ids))) if sentences else []
        # zip: a support function returning too few scores must not crash the answer path.
        scored = list(zip(range(len(sentences)), scores, strict=False))
        low = [i for i, s in scored if s < config.support_threshold]
        if low:
            detail = "sentences " + ",".join(map(str, low))
            flags.append(_flag("ungrounded", len(low) / len(sentences), detail))
    return _finish(flags, text)


def _finish(flags: list[Flag], text: str) -> tuple[str, Verdict]:
    flags.sort(key=lambda f: FLAGS.index(f.name))
    verdict = Verdict(
        allowed=not any(f.action == "block" for f in flags), flags=tuple(flags), text=text
    )
    if not verdict.allowed:
        text = refusal_for(verdict)
        verdict = Verdict(False, verdict.flags, text)
    return text, verdict
