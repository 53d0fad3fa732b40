"""The Handbook tab: browse and filter the 50 questions by part, read a whole section."""

from __future__ import annotations

import gradio as gr

from coach.errors import CoachError
from coach.handbook import Handbook, annotate
from coach.ui.state import UiContext

ALL_PARTS = "All parts"


def choices(book: Handbook, part_label: str, query: str) -> list[tuple[str, str]]:
    """Dropdown (label, id) pairs for the questions of a part whose text matches `query`."""
    part_id = None
    for p in book.parts:
        if part_label == f"{p.id} · {p.title}":
            part_id = p.id
    needle = query.strip().lower()
    out = []
    for q in book.questions:
        if part_id and q.part != part_id:
            continue
        if needle and needle not in q.text.lower():
            continue
        out.append((f"{q.id} · {q.title}", q.id))
    return out


def build(ctx: UiContext) -> None:
    book = ctx.state.book
    part_labels = [ALL_PARTS] + [f"{p.id} · {p.title}" for p in book.parts]

    def show(ref: str | None) -> str:
        if not ref:
            return "Pick a question."
        try:
            record = book.section(ref)
            # Where the handbook is wrong, the correction is shown inline (corpus/errata.json).
            return annotate(record.to_markdown(), record.id)
        except CoachError as exc:
            return f"**{exc.message}**"

    def filter_questions(part_label: str, query: str):
        found = choices(book, part_label, query)
        first = found[0][1] if found else None
        note = "" if found else "No question matches; try fewer words."
        return gr.Dropdown(choices=found, value=first), show(first) if first else note

    with gr.Tab("Handbook", id="handbook", elem_id="tab-handbook"):
        with gr.Row():
            with gr.Column(scale=1):
                part = gr.Dropdown(part_labels, value=ALL_PARTS, label="Part")
                query = gr.Textbox(label="Filter", placeholder="e.g. LoRA, softmax, RAG")
                initial = choices(book, ALL_PARTS, "")
                question = gr.Dropdown(
                    initial, value=initial[0][1], label="Question", elem_id="hb-question"
                )
            with gr.Column(scale=3):
                section = gr.Markdown(show(initial[0][1]), elem_id="hb-section")
        part.change(filter_questions, [part, query], [question, section], queue=False)
        query.submit(filter_questions, [part, query], [question, section], queue=False)
        question.change(show, question, section, queue=False)
