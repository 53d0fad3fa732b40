"""The My material tab: add your own files (an upload panel with a progress bar), see and remove
collections, and review the rubrics proposed for their sections (accept, edit, delete, reweight).

Uploads are copied to `$COACH_HOME/uploads/NAME/` under their own file names before they are
added, so uploading a changed file of the same name updates it (as re-adding does on the
command line) instead of adding a second copy from the browser's temporary folder.
Leaves out: the Ask and Mock interview pickers (ask.py, interview.py use `collection_names`).
"""

from __future__ import annotations

import html
import queue
import shutil
import threading
import time
from pathlib import Path

import gradio as gr

from coach import sources
from coach.errors import CoachError
from coach.guardrails.document_scan import clean_passage, flagged_sections
from coach.interview import section_rubrics as sr
from coach.search import collections as cs
from coach.ui import faults
from coach.ui.state import ServerState, UiContext

TABLE_HEADERS = ["name", "files", "sections", "chunks", "flagged", "built at"]
POINT_HEADERS = ["#", "point", "weight", "keywords", "follow-up", "source (verbatim)"]


def collection_names(state: ServerState) -> list[str]:
    try:
        return [c.name for c in sources.list_collections(state.cfg)]
    except CoachError:
        return []


def collections_table(state: ServerState) -> list[list]:
    rows = []
    for c in sources.list_collections(state.cfg):
        chunks = cs.index_chunks(state.cfg, c)
        flagged = len(flagged_sections(state.cfg, c.name))
        rows.append([c.name, len(c.files), c.sections, "-" if chunks is None else chunks,
                     flagged, c.built_at])  # fmt: skip
    return rows


def section_markdown(state: ServerState, ref: str) -> str:
    """A collection section for the side panel: where it is, then its text (flagged text
    removed)."""
    name, _, sid = ref.partition(":")
    try:
        section = next((s for s in sources.load_sections(state.cfg, name) if s.id == sid), None)
        if section is None:
            return f"**{ref} is not in your collection {name!r}.**"
        pieces = [f.text for f in flagged_sections(state.cfg, name).get(sid, [])]
        text = clean_passage(section.text, pieces)
    except CoachError as exc:
        return f"**{exc.message}**"
    place = " › ".join(section.heading_path) or section.title
    return f"### [{ref}] {section.title}\n\n*{section.source} › {place}*\n\n{text}"


# -- adding ---------------------------------------------------------------------------------


def suggested_name(files, current: str | None):
    """A collection name from the first uploaded file's name, unless one is typed already."""
    if (current or "").strip() or not files:
        return gr.skip()
    try:
        return sources.default_name(Path(getattr(files[0], "name", files[0])))
    except CoachError:
        return gr.skip()


def _progress_html(lines: list[str], done: bool = False) -> str:
    fraction = None
    for line in reversed(lines):
        if progress := cs.embedding_progress(line):
            fraction = progress[0] / progress[1]
            break
    value = "" if fraction is None else f' value="{1.0 if done else fraction:.3f}"'
    tail = "".join(f"<div><small>{html.escape(x.strip())}</small></div>" for x in lines[-4:])
    return f'<progress max="1"{value} style="width:100%"></progress>{tail}'


def add_uploads(state: ServerState, files, name: str):
    """Generator: copy the uploads, add them to collection `name` and index it, yielding the
    status HTML (a progress bar and the last lines) until done; then the summary."""
    name = (name or "").strip()
    if not files:
        yield "<b>Choose one or more files first.</b>"
        return
    paths = [Path(getattr(f, "name", f)) for f in files]
    try:
        name = sources.check_name(name or sources.default_name(paths[0]))
    except CoachError as exc:
        yield f"<b>{html.escape(exc.message)}</b>"
        return
    folder = state.cfg.home / "uploads" / name
    folder.mkdir(parents=True, exist_ok=True)
    kept = []
    for p in paths:
        target = folder / p.name
        shutil.copyfile(p, target)
        kept.append(target)
    lines: list[str] = []
    messages: queue.Queue = queue.Queue()
    outcome: dict = {}

    def work() -> None:
        try:
            summary = sources.add(state.cfg, name, kept, progress=messages.put)
            build = cs.ensure_index(state.cfg, name, progress=messages.put)
            outcome["result"] = (summary, build, flagged_sections(state.cfg, name))
        except Exception as exc:  # shown in the page, the traceback in the log
            outcome["error"] = faults.describe(exc, state.cfg.logs_dir)
        finally:
            messages.put(None)

    threading.Thread(target=work, name="coach-add", daemon=True).start()
    while True:
        item = messages.get()
        if item is None:
            break
        lines.append(item)
        while not messages.empty():
            nxt = messages.get()
            if nxt is None:
                messages.put(None)
                break
            lines.append(nxt)
        yield _progress_html(lines)
        time.sleep(0.2)
    if "error" in outcome:
        yield f"<b>Could not add to {html.escape(name)}:</b> {html.escape(outcome['error'])}"
        return
    summary, build, flagged = outcome["result"]
    rate = f", {build.chunks_per_s:.1f} chunks/s" if build.chunks_per_s else ""
    parts = [
        f"<b>{html.escape(name)}</b>: {summary.files} file(s), {summary.sections} sections, "
        f"{len(build.index.chunks)} chunks indexed ({build.seconds:.1f} s{rate})."
    ]
    for r in summary.rejected:
        parts.append(f"Rejected {html.escape(r['source'])}: {html.escape(r['error'])}")
    for s in summary.skipped:
        parts.append(f"Skipped {html.escape(s['source'])}: {html.escape(s['reason'])}")
    if flagged:
        parts.append(
            f"<b>Flagged:</b> {len(flagged)} section(s) contain text addressed to an AI "
            "assistant; it is treated as data (never followed, never quoted)."
        )
    yield _progress_html(lines, done=True) + "".join(f"<p>{p}</p>" for p in parts)


# -- rubric review --------------------------------------------------------------------------


def rubric_choices(state: ServerState, name: str | None) -> list[tuple[str, str]]:
    if not name:
        return []
    usable, _stale = sr.current(state.cfg, name)
    titles = {s.id: s.title for s in sources.load_sections(state.cfg, name)}
    return [
        (f"{sid} · {titles.get(sid, '')} · {r.status}", sid)
        for sid, r in sorted(usable.items(), key=lambda kv: int(kv[0][1:]))
    ]


def rubric_view(state: ServerState, name: str | None, sid: str | None):
    """(header markdown, points table) of one rubric."""
    if not name or not sid:
        return "Pick a collection and a section.", []
    usable, _stale = sr.current(state.cfg, name)
    if sid not in usable:
        return f"{name}:{sid} has no rubric yet.", []
    r = usable[sid]
    notes = f" · {'; '.join(r.notes)}" if r.notes else ""
    head = (
        f"**{r.question}** · status **{r.status}** · made by {r.made_by}{notes}\n\n"
        "Edit a point's text, weight, keywords (comma-separated) or follow-up in the table, "
        "then Save; weights are rescaled to sum to 1."
    )
    rows = [
        [i, p["point"], p["weight"], ", ".join(p["keywords"]), p["follow_up"], p["source"]]
        for i, p in enumerate(r.points, 1)
    ]
    return head, rows


def save_rubric(state: ServerState, name: str, sid: str, rows) -> str:
    """Apply the table's edits: changed texts point by point, then the weights."""
    usable, _stale = sr.current(state.cfg, name)
    rubric = usable[sid]
    rows = rows.values.tolist() if hasattr(rows, "values") else list(rows)
    if len(rows) != len(rubric.points):
        raise CoachError("Use Delete point to remove points; the table must keep its rows.")
    for p, row in zip(rubric.points, rows, strict=True):
        changes = {}
        if str(row[1]).strip() != p["point"]:
            changes["point"] = str(row[1]).strip()
        keywords = [k.strip() for k in str(row[3]).split(",") if k.strip()]
        if keywords != list(p["keywords"]):
            changes["keywords"] = keywords
        if str(row[4]).strip() != p["follow_up"]:
            changes["follow_up"] = str(row[4]).strip()
        if str(row[5]).strip() != p["source"]:
            changes["source"] = str(row[5]).strip()
        if changes:
            sr.edit_point(state.cfg, name, sid, p["id"], **changes)
    weights = [float(row[2]) for row in rows]
    if any(abs(w - p["weight"]) > 1e-9 for w, p in zip(weights, rubric.points, strict=True)):
        sr.reweight(state.cfg, name, sid, weights)
    return "Saved."


def build(ctx: UiContext) -> None:
    state = ctx.state

    def guarded(fn):
        """Run a review action; a CoachError becomes the status line, never a traceback."""

        def run(*args):
            try:
                return fn(*args)
            except CoachError as exc:
                return exc.message
            except ValueError as exc:
                return f"Check the table: {exc}"

        return run

    with gr.Tab("My material", id="material", elem_id="tab-material"):
        gr.Markdown(
            "Add your own notes, question banks or documents (Markdown, text, HTML, PDF). "
            "Ask about them in **Ask** and practise them in **Mock interview** by picking the "
            "collection there."
        )
        with gr.Row():
            with gr.Column(scale=2):
                files = gr.File(
                    file_count="multiple",
                    file_types=[".md", ".markdown", ".txt", ".html", ".htm", ".pdf"],
                    label="Files",
                    elem_id="mat-files",
                )
                name = gr.Textbox(
                    label="Collection name",
                    placeholder="e.g. ml-notes (default: the first file's name)",
                    elem_id="mat-name",
                )
                add_btn = gr.Button("Add", variant="primary", elem_id="mat-add")
                status = gr.HTML("", elem_id="mat-status")
            with gr.Column(scale=3):
                table = gr.Dataframe(
                    headers=TABLE_HEADERS,
                    value=collections_table(state),
                    interactive=False,
                    label="Your collections",
                    elem_id="mat-table",
                )
                with gr.Row():
                    to_remove = gr.Dropdown(
                        collection_names(state), label="Remove a collection", elem_id="mat-rm"
                    )
                    sure = gr.Checkbox(label="Yes, delete it (your files are not touched)")
                    remove_btn = gr.Button("Remove", variant="stop", elem_id="mat-remove")
        gr.Markdown("### Rubrics for your sections")
        with gr.Row():
            rub_coll = gr.Dropdown(
                collection_names(state), label="Collection", elem_id="mat-rub-coll"
            )
            rub_sec = gr.Dropdown([], label="Section with a rubric", elem_id="mat-rub-sec")
            propose_btn = gr.Button("Propose rubrics (extractive)", elem_id="mat-propose")
            model_btn = gr.Button("Re-propose this one with the model", elem_id="mat-propose-m")
        rub_head = gr.Markdown("Pick a collection and a section.", elem_id="mat-rub-head")
        points = gr.Dataframe(
            headers=POINT_HEADERS,
            value=[],
            interactive=True,
            elem_id="mat-points",
            wrap=True,
            # Fixed shares so keywords, follow-up and source stay in view beside long points.
            column_widths=["4%", "26%", "8%", "16%", "20%", "26%"],
        )
        with gr.Row():
            accept_btn = gr.Button("Accept (reviewed)", variant="primary", elem_id="mat-accept")
            save_btn = gr.Button("Save edits", elem_id="mat-save")
            drop_no = gr.Number(
                label="Point #", value=1, precision=0, minimum=1, elem_id="mat-drop-no"
            )
            drop_btn = gr.Button("Delete point", elem_id="mat-drop")
        rub_status = gr.Markdown("", elem_id="mat-rub-status")

    def refreshed():
        names = collection_names(state)
        return (
            collections_table(state),
            gr.Dropdown(choices=names, value=None),
            gr.Dropdown(choices=names),
        )

    def adding(f, n):
        yield from add_uploads(state, f, n)

    files.upload(suggested_name, [files, name], name, queue=False)

    add_btn.click(adding, [files, name], status, concurrency_id="model", concurrency_limit=1).then(
        refreshed, None, [table, to_remove, rub_coll], queue=False
    )

    def remove(n: str | None, ok: bool) -> str:
        if not n:
            return "<b>Pick a collection to remove.</b>"
        if not ok:
            return "<b>Tick the box to confirm: this deletes the collection and its rubrics.</b>"
        try:
            sources.remove(state.cfg, n)
            cs.forget(state.cfg, n)
        except CoachError as exc:
            return f"<b>{html.escape(exc.message)}</b>"
        return f"Removed <b>{html.escape(n)}</b> (your files are untouched)."

    remove_btn.click(remove, [to_remove, sure], status, queue=False).then(
        refreshed, None, [table, to_remove, rub_coll], queue=False
    )

    def pick_collection(n):
        try:
            found = rubric_choices(state, n) if n else []
            first = found[0][1] if found else None
            head, rows = rubric_view(state, n, first)
        except CoachError as exc:
            return gr.Dropdown(choices=[], value=None), f"**{exc.message}**", []
        return gr.Dropdown(choices=found, value=first), head, rows

    def show(n, s):
        try:
            return rubric_view(state, n, s)
        except CoachError as exc:
            return f"**{exc.message}**", []

    rub_coll.change(pick_collection, rub_coll, [rub_sec, rub_head, points], queue=False)
    rub_sec.change(show, [rub_coll, rub_sec], [rub_head, points], queue=False)

    def propose(n):
        if not n:
            return "Pick a collection first."
        result = sr.propose(state.cfg, n)
        return (
            f"{result['proposed']} proposed, {result['kept_reviewed']} reviewed kept, "
            f"{len(result['skipped'])} sections too short."
        )

    def propose_model(n, s):
        if not n or not s:
            return "Pick a collection and a section first."
        grader = state.grader()
        sr.propose(state.cfg, n, [s], generator=grader.generator, replace_reviewed=True)
        return f"{n}:{s}: proposed by the model; review it below."

    def accept(n, s):
        sr.accept(state.cfg, n, s)
        return "Accepted: graded as reviewed from now on."

    def save(n, s, rows):
        return save_rubric(state, n, s, rows)

    def drop(n, s, number):
        usable, _ = sr.current(state.cfg, n)
        sr.delete_point(state.cfg, n, s, usable[s].points[int(number) - 1]["id"])
        return "Deleted; the other points share its weight."

    after = dict(fn=pick_collection, inputs=rub_coll, outputs=[rub_sec, rub_head, points])
    propose_btn.click(guarded(propose), rub_coll, rub_status, queue=False).then(
        **after, queue=False
    )
    model_btn.click(
        guarded(propose_model),
        [rub_coll, rub_sec],
        rub_status,
        concurrency_id="model",
        concurrency_limit=1,
    ).then(show, [rub_coll, rub_sec], [rub_head, points], queue=False)
    for button, fn, inputs in (
        (accept_btn, accept, [rub_coll, rub_sec]),
        (save_btn, save, [rub_coll, rub_sec, points]),
        (drop_btn, drop, [rub_coll, rub_sec, drop_no]),
    ):
        button.click(guarded(fn), inputs, rub_status, queue=False).then(
            show, [rub_coll, rub_sec], [rub_head, points], queue=False
        )
