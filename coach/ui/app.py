"""The page: header, settings, and the tabs in their fixed order; `serve` launches it.

Each tab is a module with `build(ctx)` that lays out its components and wires its events against the
shared `UiContext`: Ask (cited Q&A), Mock interview (coach.interview.session: ask, grade, follow up,
record), Progress (coach.interview.store: history, plots, export/import/reset), Handbook,
My material (your own files: upload, collections, rubric review), Evals.
"""

from __future__ import annotations

from dataclasses import replace

import gradio as gr

from coach.config import Config, load_config
from coach.ui import ask, evals, handbook, interview, material, progress, settings
from coach.ui.state import ServerState, UiContext

TABS = (
    ask.build,
    interview.build,
    progress.build,
    handbook.build,
    material.build,
    evals.build,
)


def build_app(cfg: Config | None = None, state: ServerState | None = None) -> gr.Blocks:
    """The app, built but not launched (tests and `app.py` call this)."""
    state = state or ServerState(cfg or load_config())
    with gr.Blocks(title="Interview Coach") as app:
        gr.Markdown("# Interview Coach\nPractise for LLM engineering interviews, offline.")
        banner = gr.Markdown("", elem_id="banner")
        practise = gr.Textbox(visible="hidden", elem_id="practise-request")
        ctx = UiContext(state, app, banner, practise)
        settings.build(ctx)
        with gr.Tabs() as tabs:
            ctx = replace(ctx, tabs=tabs)
            for build in TABS:
                build(ctx)
    return app


def serve(cfg: Config, host: str = "127.0.0.1", port: int = 7860) -> None:
    state = ServerState(cfg)
    app = build_app(cfg, state)
    state.warm_up_in_background()
    print(f"Interview Coach on http://{host}:{port} (Ctrl+C to stop)", flush=True)
    # One in-process model: model calls run one at a time (they share a concurrency group too).
    app.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, show_error=False, inbrowser=False, quiet=True
    )
