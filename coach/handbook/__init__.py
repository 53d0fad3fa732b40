"""The handbook: parsing the source text into records, and chunking them for search.

Job: `corpus/handbook.txt` -> a `Handbook` of 50 `Question`s (Q01..Q50) and 9 `Part` intros
(P1..P9), with tables restored from the hand-checked overlay; then `Chunk`s for the index, and
`Statement`s (one sentence, item or table row each) that answers quote and are checked against;
the errata (`corpus/errata.json`): where the handbook is wrong, and the correction.
Public names: load_handbook, Handbook, Question, Part, Table, Paragraph, Diagram, normalize_id,
corpus_hash, QUESTION_COUNT, Chunk, chunk_handbook, CHUNK_VERSION, MAX_WORDS, Statement,
statements_by_section, split_statements, Erratum, load_errata, errata_in.
Must not import: any other stage (search, llm, guardrails, ask, interview, evals, ui, cli).
"""

from coach.handbook.chunk import CHUNK_VERSION, MAX_WORDS, Chunk, chunk_handbook
from coach.handbook.errata import Erratum, annotate, errata_in, load_errata
from coach.handbook.parse import (
    QUESTION_COUNT,
    Diagram,
    Handbook,
    Paragraph,
    Part,
    Question,
    Table,
    corpus_hash,
    load_handbook,
    normalize_id,
)
from coach.handbook.statements import STATEMENTS_VERSION, Statement, statements_by_section
from coach.handbook.statements import split_sentences as split_statements

__all__ = [
    "split_statements",
    "STATEMENTS_VERSION",
    "Erratum",
    "annotate",
    "errata_in",
    "load_errata",
    "Statement",
    "statements_by_section",
    "CHUNK_VERSION",
    "Chunk",
    "Diagram",
    "Handbook",
    "MAX_WORDS",
    "Paragraph",
    "Part",
    "QUESTION_COUNT",
    "Question",
    "Table",
    "chunk_handbook",
    "corpus_hash",
    "load_handbook",
    "normalize_id",
]
