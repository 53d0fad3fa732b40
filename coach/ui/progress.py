"""The Progress tab: what the progress store knows, as plots first and tables second.

Score per part over time (one line per part, one point per session), the weakest questions (last
score), the review schedule with due dates, and the recent answers. Export (JSON, which imports
back, or CSV for a spreadsheet), import, and reset with confirmation. Everything reads the server's
one `ProgressStore`; a damaged database shows its message here, and reset still works on it (the
file is moved aside unopened). Leaves out: the store itself (coach/interview/store.py) and
scheduling rules (coach/interview/schedule.py).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import gradio as gr
import pandas as pd

from coach.errors import BadInput, CoachError
from coach.ui import faults, render
from coach.ui.state import ServerState, UiContext

RECENT = 20  # attempts in the recent table
WEAKEST = 10  # bars in the weakest-questions plot
MAIN_KINDS = ("graded", "skipped", "revealed")  # follow-ups probe a point, not the question
DUE_COLUMNS = ["question", "title", "due", "when", "last score", "interval (days)"]
RECENT_COLUMNS = ["when", "question", "title", "kind", "score"]
OUTPUTS = ("headline", "timeline", "weakest", "due", "recent", "status")
EMPTY = "No answers yet: start a **Mock interview** and your progress shows here."


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _local(when: datetime, fmt: str) -> str:
    return when.astimezone().strftime(fmt)


def timeline(
    attempts: list[dict], part_of: dict[str, str]
) -> tuple[dict[str, list[tuple[int, float]]], list[str]]:
    """Per part, (session index, mean score) points, and each session's label.

    A session is an interview; answers recorded outside one (`coach grade --record`) group by
    day. A skip or a revealed answer counts 0, as the schedule counts it.
    """
    groups: dict[object, list[dict]] = defaultdict(list)
    for a in attempts:
        if a["kind"] in MAIN_KINDS and a["question"] in part_of:
            key = a["session_id"] or ("day", _local(a["created_at"], "%Y-%m-%d"))
            groups[key].append(a)
    ordered = sorted(groups.values(), key=lambda group: group[0]["created_at"])
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for i, group in enumerate(ordered):
        scores: dict[str, list[float]] = defaultdict(list)
        for a in group:
            scores[part_of[a["question"]]].append(a["score"] or 0.0)
        for part, values in scores.items():
            series[part].append((i, round(statistics.fmean(values), 1)))
    labels = [_local(group[0]["created_at"], "%m-%d %H:%M") for group in ordered]
    return dict(sorted(series.items())), labels


def weakest_rows(states: dict, titles: dict[str, str], n: int = WEAKEST) -> list[dict]:
    """The reviewed questions with the lowest last score, as the scheduler's "weakest first"
    order sees them: a skip or a revealed answer counts 0, even after an earlier grade."""
    scored = sorted(
        (s.last_score or 0.0, qid)
        for qid, s in states.items()
        if s.last_reviewed is not None and qid in titles
    )
    return [{"label": f"{qid} · {titles[qid]}", "value": score} for score, qid in scored[:n]]


def _when(due: datetime, now: datetime) -> str:
    """'due now', 'in 5 h', 'in 3 days'."""
    hours = (due - now).total_seconds() / 3600
    if hours <= 0:
        return "due now"
    return f"in {hours:.0f} h" if hours < 36 else f"in {hours / 24:.0f} days"


def due_table(states: dict, titles: dict[str, str], now: datetime) -> pd.DataFrame:
    scheduled = sorted((s for s in states.values() if s.due), key=lambda s: (s.due, s.question))
    rows = [
        [
            s.question,
            titles.get(s.question, ""),
            _local(s.due, "%Y-%m-%d %H:%M"),
            _when(s.due, now),
            "—" if s.last_score is None else f"{s.last_score:.1f}",
            round(s.interval_days, 1),
        ]
        for s in scheduled
    ]
    return pd.DataFrame(rows, columns=DUE_COLUMNS)


def recent_table(attempts: list[dict], titles: dict[str, str], n: int = RECENT) -> pd.DataFrame:
    rows = [
        [
            _local(a["created_at"], "%Y-%m-%d %H:%M"),
            a["question"],
            titles.get(a["question"], ""),
            a["kind"].replace("_", "-"),
            "—" if a["score"] is None else f"{a['score']:.1f}",
        ]
        for a in reversed(attempts[-n:])
    ]
    return pd.DataFrame(rows, columns=RECENT_COLUMNS)


def overview(state: ServerState, now: datetime | None = None) -> dict:
    """Headline, plots and tables; a store that cannot be read becomes the status line."""
    now = now or datetime.now(UTC)
    titles = {q.id: q.title for q in state.book.questions}
    part_of = {q.id: q.part for q in state.book.questions}
    try:
        store = state.progress()
        attempts = store.attempts()
        stats = store.stats(part_of)
        states = store.review_states()
    except CoachError as exc:
        return {
            "headline": "**Your progress cannot be read.**",
            "timeline": "",
            "weakest": "",
            "due": due_table({}, titles, now),
            "recent": recent_table([], titles),
            "status": f"**Problem:** {faults.describe(exc, state.cfg.logs_dir)}",
        }
    series, labels = timeline(attempts, part_of)
    part_names = {p.id: f"{p.id} · {p.title}" for p in state.book.parts}
    colours = {p.id: c for p, c in zip(state.book.parts, render.PART_COLOURS, strict=False)}
    last = [q["last_score"] for q in stats["questions"].values() if q["last_score"] is not None]
    due_now = sum(1 for s in states.values() if s.due and s.due <= now)
    graded = sum(a["kind"] == "graded" for a in attempts)
    headline = EMPTY
    if attempts:
        mean = f"{statistics.fmean(last):.1f}" if last else "—"
        headline = (
            f"**{len(attempts)}** {_plural(len(attempts), 'answer')} ({graded} graded) in "
            f"**{stats['sessions']}** {_plural(stats['sessions'], 'interview')} · "
            f"**{len(stats['questions'])}** of {len(titles)} questions practised "
            f"· mean last score **{mean}**/10 · **{due_now}** reviews due now"
        )
    return {
        "headline": headline,
        "timeline": render.line_chart_svg(series, labels, colours, part_names),
        "weakest": render.hbar_chart_svg(weakest_rows(states, titles)),
        "due": due_table(states, titles, now),
        "recent": recent_table(attempts, titles),
        "status": "",
    }


def export_progress(state: ServerState, fmt: str, folder: Path) -> tuple[str | None, str]:
    """Write the export into `folder` for download; returns (path, status)."""
    try:
        text = state.progress().export(fmt)
    except CoachError as exc:
        return None, f"**Could not export.** {faults.describe(exc, state.cfg.logs_dir)}"
    path = folder / f"coach-progress-{time.strftime('%Y%m%d-%H%M%S')}.{fmt}"
    path.write_text(text, encoding="utf-8")
    what = "JSON (imports back with Import)" if fmt == "json" else "CSV (one row per answer)"
    return str(path), f"Exported as {what}: download it below."


def import_progress(state: ServerState, path: str | None) -> str | None:
    """Merge an uploaded JSON export; the counts, or what is wrong with the file (None when
    the upload was cleared)."""
    if not path:
        return None
    try:
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput("The file is not UTF-8 text; use a coach progress export.") from None
        counts = state.progress().import_json(text)
    except CoachError as exc:
        return f"**Could not import.** {faults.describe(exc, state.cfg.logs_dir)}"
    return (
        f"Imported: {counts['sessions']} interviews, {counts['attempts']} answers and "
        f"{counts['reviews']} review states added or updated (already known ones are skipped)."
    )


def reset_progress(state: ServerState, confirmed: bool) -> str:
    if not confirmed:
        return "Nothing changed: tick **Yes, reset my progress** first."
    try:
        backup = state.reset_progress()
    except CoachError as exc:
        return f"**Could not reset.** {faults.describe(exc, state.cfg.logs_dir)}"
    if backup is None:
        return "Progress reset (there was nothing saved yet)."
    return f"Progress reset. The old database is kept as a backup: `{backup}`"


# -- layout -------------------------------------------------------------------------------


def build(ctx: UiContext) -> None:
    state = ctx.state
    # One folder per server for downloads: the system temp dir, which gradio serves from.
    exports = Path(tempfile.mkdtemp(prefix="coach-export-"))
    with gr.Tab("Progress", id="progress", elem_id="tab-progress") as tab:
        with gr.Row(equal_height=True):
            headline = gr.Markdown(EMPTY, elem_id="pr-headline")
            refresh = gr.Button("Refresh", elem_id="pr-refresh", scale=0, min_width=100)
        status = gr.Markdown("", elem_id="pr-status")
        with gr.Row():
            with gr.Column():
                gr.Markdown("#### Score per part over time")
                plot_time = gr.HTML("", elem_id="pr-timeline")
            with gr.Column():
                gr.Markdown("#### Weakest questions (last score; a skip counts 0)")
                plot_weak = gr.HTML("", elem_id="pr-weakest")
        # Full width each: side by side, their date and title columns were cut off.
        with gr.Column():
            due = gr.Dataframe(
                headers=DUE_COLUMNS,
                interactive=False,
                max_height=360,
                label="Review schedule (due first)",
                elem_id="pr-due",
            )
            recent = gr.Dataframe(
                headers=RECENT_COLUMNS,
                interactive=False,
                max_height=360,
                label=f"Recent answers (last {RECENT})",
                elem_id="pr-recent",
            )
        with gr.Accordion("Export, import, reset", open=False, elem_id="pr-data"):
            with gr.Row():
                with gr.Column():
                    with gr.Row():
                        export_json = gr.Button("Export JSON", elem_id="pr-export-json")
                        export_csv = gr.Button("Export CSV", elem_id="pr-export-csv")
                    download = gr.File(label="Export", interactive=False, elem_id="pr-download")
                with gr.Column():
                    upload = gr.File(
                        label="Import a JSON export (merged; nothing is overwritten)",
                        file_types=[".json"],
                        type="filepath",
                        elem_id="pr-import",
                    )
                with gr.Column():
                    confirm = gr.Checkbox(
                        label="Yes, reset my progress (the database is kept as a backup)",
                        elem_id="pr-confirm",
                    )
                    reset = gr.Button("Reset progress", variant="stop", elem_id="pr-reset")

    comps = {
        "headline": headline,
        "timeline": plot_time,
        "weakest": plot_weak,
        "due": due,
        "recent": recent,
        "status": status,
    }
    outputs = [comps[name] for name in OUTPUTS]

    def show(message: str | None = None) -> tuple:
        view = overview(state)
        if message is not None:  # an action's result wins over an empty status
            view["status"] = message if not view["status"] else f"{message}  \n{view['status']}"
        return tuple(view[name] for name in OUTPUTS)

    # Reads of the local database: off the queue, so they never wait behind a model call.
    fast = {"queue": False, "show_progress": "hidden"}
    gr.on([refresh.click, tab.select], show, None, outputs, **fast)

    def on_export(fmt: str):
        path, message = export_progress(state, fmt, exports)
        return path, message

    export_json.click(lambda: on_export("json"), None, [download, status], queue=False)
    export_csv.click(lambda: on_export("csv"), None, [download, status], queue=False)

    def on_import(path: str | None) -> tuple:
        return show(import_progress(state, path))

    upload.upload(on_import, upload, outputs, queue=False)

    def on_reset(yes: bool) -> tuple:
        return (*show(reset_progress(state, yes)), False)

    reset.click(on_reset, confirm, [*outputs, confirm], queue=False)
