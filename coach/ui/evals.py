"""The Evals tab: run a suite on a small sample in the background, watch it, read its numbers.

A run is a job in the server (jobs.py): one at a time, so it survives a page reload and every
browser sees it. Each page polls it with a `gr.Timer` and redraws only what changed. The same
viewer shows a finished run, a report saved in `COACH_HOME/reports`, or a committed full-run
report under `evals/`.
Leaves out: the suites themselves (coach/evals/); a running suite cannot be stopped from here.
"""

from __future__ import annotations

import html
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from coach.config import REPO_ROOT, Config
from coach.errors import CoachError
from coach.evals import EVALS_DIR
from coach.evals import SUITES as EVAL_SUITES
from coach.ui import render
from coach.ui.jobs import Job
from coach.ui.state import ServerState, UiContext


@dataclass(frozen=True)
class Suite:
    module: str  # has run(cfg, split, limit, progress) -> {"metrics", "report", ...}
    default_limit: int  # a sample that finishes within a few minutes on 2 cores


# The suites are coach.evals.SUITES; here only each one's default sample (its plot:
# render.plot_rows).
DEFAULT_LIMITS = {
    "retrieval": 20,
    "answer": 3,
    "grading": 8,
    "guardrails": 20,
    "judge": 10,
    "collections": 10,
}
SUITES = {name: Suite(module, DEFAULT_LIMITS[name]) for name, module in EVAL_SUITES.items()}
MAX_SAVED = 10  # the newest saved reports offered in the viewer


def start(state: ServerState, suite: str, split: str, limit: int | None) -> Job:
    """Start `suite` as the server's background job (raises `Busy` if one is running)."""
    spec = SUITES[suite]
    cfg = state.cfg  # the model in force when the run starts, even if someone switches later
    n = int(limit) if limit else None

    def work(progress) -> dict:
        module = importlib.import_module(spec.module)
        return module.run(cfg, split=split, limit=n, progress=progress)

    params = {"suite": suite, "split": split, "limit": n, "model": cfg.model}
    return state.jobs.start(f"{suite} eval", params, work)


def progress_html(job: Job | None) -> str:
    if job is None:
        return "<p>No eval has run on this server since it started.</p>"
    p = job.params
    head = f"<b>{p['suite']}</b> · {p['split']} split · sample {p['limit'] or 'all'} · {p['model']}"
    last = html.escape(job.messages[-1]) if job.messages else "starting…"
    if job.status == "running":
        value = "" if job.fraction is None else f' value="{job.fraction}"'
        return (
            f'<div id="ev-running"><p>{head} — <b>model busy</b>: running for '
            f'{job.seconds:.0f} s</p><progress max="1"{value} style="width:100%"></progress>'
            f"<p><small>{last}</small></p></div>"
        )
    if job.status == "failed":
        return f"<p>{head} — <b>failed</b> after {job.seconds:.0f} s: {html.escape(job.error)}</p>"
    report = html.escape(str(job.result.get("report", "")))
    return f"<p>{head} — <b>finished</b> in {job.seconds:.0f} s · report <code>{report}</code></p>"


def banner(job: Job | None) -> str:
    """The page-wide line while a job runs: answers compete with it for the CPU and model."""
    if job is None or job.status != "running":
        return ""
    return (
        f"**Model busy:** a {job.name} is running in the background (see Evals); "
        "answers are slower until it finishes."
    )


def view(data: dict, source: str) -> tuple[str, pd.DataFrame, str]:
    """Title, metrics table and bar chart for a run's result or a report file's contents."""
    suite = data.get("suite", "")
    metrics = data["metrics"] if isinstance(data.get("metrics"), dict) else data
    bits = [f"**{suite or 'report'}**"]
    bits += [f"split {data['split']}"] if "split" in data else []
    bits += [f"n = {data['n']}"] if "n" in data else []
    bits += [f"{data['seconds']:.0f} s"] if "seconds" in data else []
    title = " · ".join(bits) + f"  \n`{source}`"
    rows = [[name, str(value)] for name, value in render.metric_rows(metrics)]
    table = pd.DataFrame(rows, columns=["metric", "value"])
    return title, table, render.bar_chart_svg(render.plot_rows(suite, metrics))


def report_choices(cfg: Config) -> list[tuple[str, str]]:
    """Saved runs (newest first), then the committed full-run reports."""
    saved = sorted(cfg.reports_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    committed = sorted(EVALS_DIR.glob("*/*.json"))
    return [(f"saved · {p.name}", str(p)) for p in saved[:MAX_SAVED]] + [
        (f"committed · {p.relative_to(REPO_ROOT)}", str(p)) for p in committed
    ]


def load_report(path: str) -> tuple[str, pd.DataFrame, str]:
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise gr.Error(f"Cannot read {file}: {exc}") from exc
    # Benchmarks and older reports carry no suite name: their folder says which suite it is.
    suite = file.parent.name if file.parent.parent == EVALS_DIR else file.name.split("-")[0]
    return view({"suite": suite, **data}, str(file))


def poll(state: ServerState, seen: dict) -> tuple:
    """The Timer's tick: outputs (banner, progress, title, table, plot, reports), each skipped
    unless it changed since this page last drew it (`seen` is the page's own record)."""
    job = state.jobs.snapshot()
    version = job.version if job else 0
    first = seen.get("version") is None
    running = job is not None and job.status == "running"
    warm = state.warming_line()
    if not first and version == seen["version"] and not running and warm == seen.get("warm"):
        return (gr.skip(),) * 6
    seen["version"], seen["warm"] = version, warm
    viewer = (gr.skip(),) * 3
    reports = gr.skip()
    if job is not None and job.status == "done" and seen.get("shown") != job.id:
        seen["shown"] = job.id
        viewer = view(job.result, job.result.get("report", ""))
        reports = gr.Dropdown(choices=report_choices(state.cfg), value=None)
    elif first:
        # A fresh page with no run to show yet opens the newest report saved in COACH_HOME.
        choices = report_choices(state.cfg)
        newest = next((path for label, path in choices if label.startswith("saved")), None)
        if newest is not None and job is None:
            viewer = load_report(newest)
        reports = gr.Dropdown(choices=choices, value=newest if job is None else None)
    return (warm or banner(job), progress_html(job), *viewer, reports)


def build(ctx: UiContext) -> None:
    state = ctx.state
    with gr.Tab("Evals", id="evals", elem_id="tab-evals"):
        gr.Markdown(
            "Runs a suite on a deterministic sample in the background of this server (one run at "
            "a time; it keeps going if you reload). Full runs: `coach eval --suite NAME`."
        )
        with gr.Row():
            suite = gr.Dropdown(list(SUITES), value="retrieval", label="Suite", elem_id="ev-suite")
            split = gr.Radio(["dev", "test"], value="test", label="Split", elem_id="ev-split")
            limit = gr.Number(
                SUITES["retrieval"].default_limit,
                precision=0,
                minimum=1,
                label="Sample size",
                elem_id="ev-limit",
            )
            run = gr.Button("Run", variant="primary", elem_id="ev-run", scale=0)
        progress = gr.HTML(progress_html(None), elem_id="ev-progress")
        title = gr.Markdown("", elem_id="ev-title")
        with gr.Row():
            table = gr.Dataframe(
                headers=["metric", "value"],
                interactive=False,
                max_height=420,
                elem_id="ev-table",
            )
            plot = gr.HTML("", elem_id="ev-plot")
        reports = gr.Dropdown(
            [], label="Saved runs and committed full-run reports", elem_id="ev-reports"
        )
        seen = gr.State({})
        timer = gr.Timer(1.0)

    def on_run(name: str, which: str, n: float | None) -> str:
        try:
            return progress_html(start(state, name, which, int(n) if n else None))
        except CoachError as exc:
            raise gr.Error(exc.message) from None

    def on_tick(page: dict) -> tuple:
        return poll(state, page)

    suite.input(lambda name: SUITES[name].default_limit, suite, limit, queue=False)
    run.click(on_run, [suite, split, limit], progress, queue=False)
    outputs = [ctx.banner, progress, title, table, plot, reports]
    # Cheap reads of server memory: off the queue, so they never wait behind a model call.
    timer.tick(on_tick, seen, outputs, queue=False, show_progress="hidden")
    ctx.blocks.load(on_tick, seen, outputs, queue=False, show_progress="hidden")
    reports.input(load_report, reports, [title, table, plot], queue=False)
