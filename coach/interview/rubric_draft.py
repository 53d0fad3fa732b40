"""Draft grading rubrics from the handbook: extractive and deterministic, no model involved.

For each of the 50 questions it lists candidate key points taken from the handbook answer --
definition sentences, emphasised terms (the bold lead-ins such as "Why it works:", quoted terms,
acronym expansions), list items, table rows, diagram labels, the tip and, scored lowest, any
other sentence -- each with the exact passage it came from (a substring of
`coach.interview.rubrics.section_text`). It then proposes 3-6 of them as a draft rubric in the
`corpus/rubrics.json` format, with naive weights, keywords and follow-ups.

The drafts are a starting point, not the product: `corpus/rubrics.json` is the drafts rewritten
by hand into short, checkable points. `--compare` reports how a corrected file relates to the
drafts (which points were kept, rewritten from a draft or candidate passage, or added).

    python -m coach.interview.rubric_draft                      # drafts as JSON on stdout
    python -m coach.interview.rubric_draft --out drafts.json    # ... or into a file
    python -m coach.interview.rubric_draft --compare corpus/rubrics.json
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from coach.handbook import Diagram, Handbook, Paragraph, Question, Table, load_handbook
from coach.interview.rubrics import MAX_POINTS, MIN_POINTS, normalize_space, section_text

DRAFT_VERSION = 1
MAX_POINT_WORDS = 25
# How strongly each kind of candidate suggests a key point (ties keep handbook order).
KIND_SCORES = {
    "definition": 5.0,
    "list_item": 3.0,
    "labelled": 3.0,
    "table_row": 2.5,
    "term": 2.0,
    "tip": 2.0,
    "diagram": 1.0,
    "sentence": 0.5,
}
TIP_WEIGHT = 0.1
DEFINITION_WEIGHT = 0.3

# A sentence ends at . ! ? (optionally before a closing quote) followed by a capital or a quote.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”']))\s+(?=[A-Z\"“•])")
# "Why it works: ..." — the bold lead-in of a paragraph in the printed handbook.
_LABEL = re.compile(r"(?:\d+\.\s+|•\s*)?([A-Z][^:.?!]{1,48}?):\s+(?=\S)")
_LIST_ITEM = re.compile(r"(?:\d+\.\s|•)")
_DEFINITION = re.compile(
    r"^(?!(?:This|That|These|Those|It|They|There)\b)([^,;:—]{2,70}?)\s"
    r"(?:is|are|means|refers to|measures|occurs when|converts|maps|replaces|transfers|provides|"
    r"runs|stores?|augments|encourages)\s"
)
_QUOTED = re.compile(r"[\"“]([^\"”]{2,40})[\"”]")
_ACRONYM = re.compile(r"\b([A-Z][A-Za-z0-9³\-]*[A-Z][A-Za-z0-9³\-]*) \(([A-Z][^)]{3,60})\)")
_WORD = re.compile(r"[a-z][a-z0-9\-]+")
STOPWORDS = frozenset(
    """a an and are as at be been but by can do does each for from has have how if in into is it
    its just more most much not of on one only or so such than that the their them then there
    these they this to too up use used uses using via was what when where which while who why
    will with without would you your also both all any other same very many every get
    gets""".split()
)


@dataclass
class Candidate:
    kind: str  # see KIND_SCORES
    text: str  # the passage, as it reads in the handbook (whitespace-normalised)
    source: str  # exact substring of section_text(question)
    terms: list[str] = field(default_factory=list)  # emphasised terms found in the passage
    score: float = 0.0


# --------------------------------------------------------------------------- candidates


def sentences(text: str) -> list[str]:
    """Split a paragraph into sentences (no split inside "e.g." or before a lower-case word).

    A question stays with the sentence answering it.

    >>> sentences('Tokens are units. Poor tokenization (e.g., non-Latin) costs more. "Hi" he said.')
    ['Tokens are units.', 'Poor tokenization (e.g., non-Latin) costs more.', '"Hi" he said.']
    >>> sentences("Why scale? Softmax saturates. So we scale.")
    ['Why scale? Softmax saturates.', 'So we scale.']
    """
    parts = [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]
    merged: list[str] = []
    for part in parts:  # "Why divide by √d_k? The raw ..." : a question leads into its answer
        if merged and merged[-1].endswith("?"):
            merged[-1] += " " + part
        else:
            merged.append(part)
    return merged


def emphasised_terms(text: str) -> list[str]:
    """Terms the handbook marks out: lead-in labels, quoted phrases, acronym expansions.

    >>> emphasised_terms('Why it works: KL (Kullback-Leibler divergence) is "big".')
    ['Why it works', 'KL', 'Kullback-Leibler divergence', 'big']
    """
    terms = []
    if label := _LABEL.match(text):
        terms.append(label.group(1).strip())
    for match in _ACRONYM.finditer(text):
        terms += [match.group(1), match.group(2)]
    terms += [match.group(1).strip() for match in _QUOTED.finditer(text)]
    return list(dict.fromkeys(terms))


def candidates(question: Question) -> list[Candidate]:
    """Every candidate key point of one question, in handbook order, with exact sources."""
    found: list[Candidate] = []
    first_paragraph = True
    for block in question.blocks:
        if isinstance(block, Paragraph):
            found += paragraph_candidates(block.text, first_paragraph)
            first_paragraph = False
        elif isinstance(block, Table):
            found += _table_candidates(block)
        elif isinstance(block, Diagram):
            # Items are figure labels (the first is the figure's title): keep those with a word
            # in them; only sentence-like ones are proposed as points (see _substantial).
            found += [
                Candidate("diagram", item, item, emphasised_terms(item))
                for item in block.items[1:]
                if len(item.split()) >= 2 and content_words(item) and not item.endswith(":")
            ]
    for sentence in sentences(question.tip):
        found.append(Candidate("tip", sentence, sentence, emphasised_terms(sentence)))

    text = section_text(question)
    unique: dict[str, Candidate] = {}
    for candidate in found:
        candidate.source = normalize_space(candidate.source)
        if candidate.source not in text:  # never propose a passage that is not in the section
            raise AssertionError(f"{question.id}: candidate source not in section: {candidate}")
        unique.setdefault(candidate.source, candidate)
    return list(unique.values())


def paragraph_candidates(paragraph: str, first: bool) -> list[Candidate]:
    found = []
    parts = sentences(paragraph)
    covered = 0  # sentences already inside the lead-in candidate
    if _LIST_ITEM.match(paragraph) or _LABEL.match(paragraph):
        # A listed or labelled paragraph: its first sentence, extended while it is short.
        covered = 1
        while covered < len(parts) and len(" ".join(parts[:covered]).split()) < 12:
            covered += 1
        source = " ".join(parts[:covered])
        kind = "list_item" if _LIST_ITEM.match(paragraph) else "labelled"
        found.append(Candidate(kind, source, source, emphasised_terms(source)))
    for i, sentence in enumerate(parts[covered:], start=covered):
        terms = emphasised_terms(sentence)
        if (first and i == 0 and not _is_lead_in(sentence)) or _DEFINITION.match(sentence):
            found.append(Candidate("definition", sentence, sentence, terms))
        elif terms:
            found.append(Candidate("term", sentence, sentence, terms))
        else:
            found.append(Candidate("sentence", sentence, sentence, terms))  # plain: low score
    return found


def _is_lead_in(sentence: str) -> bool:
    """A short line introducing a list ("Five reasons Transformers won:") defines nothing."""
    return sentence.endswith(":") and len(sentence.split()) < 8


def _table_candidates(table: Table) -> list[Candidate]:
    rows = table.to_markdown().splitlines()[2:]
    found = []
    for cells, markdown in zip(table.rows, rows, strict=True):
        pairs = [
            f"{head}: {cell}" if head else cell
            for head, cell in zip(table.header, cells, strict=True)
        ]
        found.append(Candidate("table_row", "; ".join(pairs), markdown, [cells[0]]))
    return found


# --------------------------------------------------------------------------- draft rubric


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 2]


def _idf(book: Handbook) -> dict[str, float]:
    docs = [set(content_words(q.to_markdown())) for q in book.questions]
    counts = Counter(word for doc in docs for word in doc)
    return {word: math.log(len(docs) / n) for word, n in counts.items()}


def keywords(candidate: Candidate, idf: dict[str, float], limit: int = 5) -> list[str]:
    """Emphasised terms first, then the passage's rarest content words; 2-5, lower case."""
    chosen: list[str] = []
    for term in candidate.terms:
        term = term.lower().strip(" .")
        if 1 <= len(term.split()) <= 3 and term not in chosen:
            chosen.append(term)
    words = content_words(candidate.source)  # for a table row: its cells, not the header
    ranked = sorted(dict.fromkeys(words), key=lambda w: (-idf.get(w, 0.0), words.index(w)))
    for word in ranked:
        if len(chosen) >= limit:
            break
        if not any(word in term for term in chosen):
            chosen.append(word)
    if len(chosen) < 2 and len(candidate.source.split()) <= 5:
        chosen.append(candidate.source.lower())  # a short formula or label: match it whole
    return chosen[:limit]


def _point_text(candidate: Candidate) -> str:
    text = candidate.text
    if candidate.kind != "table_row":
        text = _LABEL.sub("", text, count=1)  # the point is the statement, not its lead-in
    words = text.split()
    if len(words) > MAX_POINT_WORDS:
        text = " ".join(words[:MAX_POINT_WORDS]) + " …"
    return text


def _follow_up(candidate: Candidate, question: Question) -> str:
    term = candidate.terms[0] if candidate.terms else ""
    if candidate.kind == "definition":
        subject = _DEFINITION.match(candidate.text)
        if subject:
            name = subject.group(1)
            if re.match(r"[A-Z][a-z]", name):  # "The ..." / "An LLM", not "LLM" or "KL"
                name = name[0].lower() + name[1:]
            return f"How would you define {name}, in a sentence or two?"
        return f"How would you sum up the core idea of {question.title.rstrip('?')}?"
    if candidate.kind == "table_row":
        return f"What about {term.lower()} — how does that play out here?"
    if candidate.kind == "tip":
        return "What is the one thing about this you would want an interviewer to remember?"
    if term:
        return f"Can you say more about {term.lower()}?"
    return "Can you go one level deeper on that?"


def _substantial(candidate: Candidate) -> bool:
    """Diagram labels are proposed only when they read like a statement."""
    return candidate.kind != "diagram" or len(candidate.text.split()) >= 4


def overlap(a: str, b: str) -> float:
    """Shared content words over the smaller text's (0-1)."""
    wa, wb = set(content_words(a)), set(content_words(b))
    return len(wa & wb) / max(1, min(len(wa), len(wb)))


def propose(question: Question, found: list[Candidate], idf: dict[str, float]) -> list[dict]:
    """Pick 3-6 candidates as draft points: the first definition, the best-scoring distinct
    others, then the tip; weights 0.3 / even split / 0.1, summing to 1."""
    asked = set(content_words(question.question))
    for candidate in found:
        relevance = len(asked & set(content_words(candidate.text))) / max(1, len(asked))
        candidate.score = KIND_SCORES[candidate.kind] + 2.0 * relevance
    definitions = [c for c in found if c.kind == "definition"]
    tips = [c for c in found if c.kind == "tip"]
    picked: list[Candidate] = definitions[:1]
    others = sorted(
        (c for c in found if c.kind != "tip" and c not in picked and _substantial(c)),
        key=lambda c: -c.score,  # sorted() is stable: ties keep handbook order
    )
    for candidate in others:
        if len(picked) >= MAX_POINTS - 1:
            break
        if all(overlap(candidate.text, p.text) < 0.6 for p in picked):
            picked.append(candidate)
    fresh_tips = [
        t
        for t in tips
        if len(t.text.split()) >= 6 and all(overlap(t.text, p.text) < 0.6 for p in picked)
    ]
    if fresh_tips:
        picked.append(max(fresh_tips, key=lambda c: c.score))
    rest = [c for c in found if c not in others]
    for candidate in others + tips + rest:  # too few distinct points: fill up to the minimum
        if len(picked) >= MIN_POINTS:
            break
        if candidate not in picked:
            picked.append(candidate)
    picked = picked[:MAX_POINTS]

    weights = _weights(picked)
    return [
        {
            "id": f"{question.id}.{n}",
            "point": _point_text(candidate),
            "weight": weight,
            "source": candidate.source,
            "keywords": keywords(candidate, idf),
            "follow_up": _follow_up(candidate, question),
            "kind": candidate.kind,
        }
        for n, (candidate, weight) in enumerate(zip(picked, weights, strict=True), start=1)
    ]


def _weights(picked: list[Candidate]) -> list[float]:
    """0.3 for a definition, 0.1 for the tip, the rest shared evenly; rounded to 2 decimals
    with the remainder on the first point so they sum to exactly 1.

    >>> _weights([Candidate("definition", "", ""), Candidate("term", "", ""),
    ...           Candidate("tip", "", "")])
    [0.3, 0.6, 0.1]
    """
    fixed = {"definition": DEFINITION_WEIGHT, "tip": TIP_WEIGHT}
    first_definition = next((i for i, c in enumerate(picked) if c.kind == "definition"), None)
    shares = []
    for i, candidate in enumerate(picked):
        if candidate.kind == "tip" or i == first_definition:
            shares.append(fixed[candidate.kind])
        else:
            shares.append(None)
    free = [i for i, share in enumerate(shares) if share is None]
    rest = 1.0 - sum(share for share in shares if share is not None)
    if not free:  # only fixed shares: scale them to 1
        total = sum(shares)
        shares = [share / total for share in shares]
    else:
        for i in free:
            shares[i] = rest / len(free)
    rounded = [round(share, 2) for share in shares]
    rounded[0] = round(rounded[0] + 1.0 - sum(rounded), 2)
    return rounded


def draft(book: Handbook | None = None) -> dict:
    """Drafts for every question: candidates with sources, and a proposed rubric."""
    book = book or load_handbook()
    idf = _idf(book)
    drafts = {}
    for question in book.questions:
        found = candidates(question)
        points = propose(question, found, idf)
        drafts[question.id] = {
            "question": question.id,
            "title": question.title,
            "asked": question.question,
            "points": points,
            "candidates": [
                {k: v for k, v in asdict(c).items() if k != "score"} | {"score": round(c.score, 2)}
                for c in found
            ],
        }
    return {
        "version": DRAFT_VERSION,
        "generated_by": "python -m coach.interview.rubric_draft",
        "note": "extractive DRAFT: rewrite into corpus/rubrics.json by hand before use",
        "drafts": drafts,
    }


# --------------------------------------------------------------------------- compare


def compare(drafts: dict, rubrics: dict) -> dict:
    """How each corrected point relates to the drafts, by its source passage:

    - kept: same source and same point text as a proposed draft point;
    - rewritten: its source overlaps a proposed draft point's source (one contains the other);
    - from_candidate: its source overlaps a candidate that was not proposed;
    - added: no draft passage overlaps it.
    Also counts proposed draft points that no corrected point overlaps (dropped).
    """
    counts = Counter()
    for qid, entry in rubrics["rubrics"].items():
        proposed = drafts["drafts"][qid]["points"]
        pool = drafts["drafts"][qid]["candidates"]
        used = set()
        for point in entry["points"]:
            source = normalize_space(point["source"])
            hits = [p for p in proposed if _sourcesoverlap(source, p["source"])]
            if any(p["source"] == source and p["point"] == point["point"] for p in hits):
                counts["kept"] += 1
            elif hits:
                counts["rewritten"] += 1
            elif any(_sourcesoverlap(source, c["source"]) for c in pool):
                counts["from_candidate"] += 1
            else:
                counts["added"] += 1
            used.update(p["id"] for p in hits)
        counts["draft_points"] += len(proposed)
        counts["final_points"] += len(entry["points"])
        counts["dropped"] += sum(1 for p in proposed if p["id"] not in used)
    return dict(counts)


def _sourcesoverlap(a: str, b: str) -> bool:
    a, b = normalize_space(a), normalize_space(b)
    return a in b or b in a


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    ap.add_argument(
        "--compare",
        type=Path,
        default=None,
        metavar="RUBRICS",
        help="compare a corrected rubrics file with the drafts and print the counts",
    )
    args = ap.parse_args(argv)
    drafts = draft()
    if args.compare is not None:
        result = compare(drafts, json.loads(args.compare.read_text(encoding="utf-8")))
        text = json.dumps(result, indent=2)
    else:
        text = json.dumps(drafts, indent=2, ensure_ascii=False)
    if args.out is None:
        sys.stdout.write(text + "\n")
    else:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
