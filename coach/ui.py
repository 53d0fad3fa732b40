"""The Gradio app, built without launching (tests and `app.py` call `build_app`).

A thin adapter: every tab calls the library and renders its typed results. Tabs arrive as
their capabilities land; today: Handbook (browse and search the 50 questions by part).
"""

from __future__ import annotations

from coach.config import Config, load_config
from coach.errors import CoachError
from coach.parse import Handbook, load_handbook

ALL_PARTS = "All parts"


def _choices(book: Handbook, part_label: str, query: str) -> list[tuple[str, str]]:
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


def build_app(cfg: Config | None = None):
    import gradio as gr

    cfg = cfg or load_config()
    book = load_handbook()
    part_labels = [ALL_PARTS] + [f"{p.id} · {p.title}" for p in book.parts]

    def show(ref: str | None) -> str:
        if not ref:
            return "Pick a question."
        try:
            return book.section(ref).to_markdown()
        except CoachError as exc:
            return f"**{exc.message}**"

    def filter_questions(part_label: str, query: str):
        choices = _choices(book, part_label, query)
        first = choices[0][1] if choices else None
        note = "" if choices else "No question matches; try fewer words."
        return gr.update(choices=choices, value=first), show(first) if first else note

    with gr.Blocks(title="Interview Coach") as app:
        gr.Markdown("# Interview Coach\nPractice for LLM engineering interviews, offline.")
        with gr.Tab("Handbook", elem_id="tab-handbook"):
            with gr.Row():
                with gr.Column(scale=1):
                    part = gr.Dropdown(part_labels, value=ALL_PARTS, label="Part")
                    query = gr.Textbox(label="Filter", placeholder="e.g. LoRA, softmax, RAG")
                    initial = _choices(book, ALL_PARTS, "")
                    question = gr.Dropdown(
                        initial, value=initial[0][1], label="Question", elem_id="hb-question"
                    )
                with gr.Column(scale=3):
                    section = gr.Markdown(show(initial[0][1]), elem_id="hb-section")
            part.change(filter_questions, [part, query], [question, section])
            query.submit(filter_questions, [part, query], [question, section])
            question.change(show, question, section)
    return app


def serve(cfg: Config, host: str = "127.0.0.1", port: int = 7860) -> None:
    app = build_app(cfg)
    print(f"Interview Coach on http://{host}:{port} (Ctrl+C to stop)", flush=True)
    app.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, show_error=False, inbrowser=False
    )
