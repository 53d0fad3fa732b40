"""The user's own material: files read into named collections of sections.

read.py turns one Markdown, text, HTML or PDF file into a `Document` (checks, decoding,
extraction: html_text.py, pdf.py); sections.py cuts it into `Section`s from its structure
(markdown.py headings, question lists, windows.py windows), each with its file, heading path and
exact character span; ingest.py adds files and folders to a collection, skipping unchanged ones;
store.py keeps collections under `$COACH_HOME/collections/NAME/` with crash-safe writes;
names.py checks collection names.
Public names: add, AddSummary, list_collections, remove, load_sections, read_manifest,
Collection, FileEntry, Section, Document, Heading, read_document, split_document, check_name,
default_name, SUPPORTED, MAX_FILE_BYTES.
Leaves out: indexing collections for search, rubrics, the UI.
Must not import: any other stage (handbook, search, llm, guardrails, ask, interview, evals, ui,
cli).
"""

from coach.sources.ingest import AddSummary, add
from coach.sources.names import check_name, default_name
from coach.sources.read import MAX_FILE_BYTES, SUPPORTED, read_document
from coach.sources.records import Document, Heading, Section
from coach.sources.sections import split_document
from coach.sources.store import (
    Collection,
    FileEntry,
    list_collections,
    load_sections,
    read_manifest,
    remove,
)

__all__ = [
    "MAX_FILE_BYTES",
    "SUPPORTED",
    "AddSummary",
    "Collection",
    "Document",
    "FileEntry",
    "Heading",
    "Section",
    "add",
    "check_name",
    "default_name",
    "list_collections",
    "load_sections",
    "read_document",
    "read_manifest",
    "remove",
    "split_document",
]
