"""The Settings panel: which models and data the server uses, and the 1.5B/0.5B switch.

The switch applies to the whole server (one in-process model serves every session), so the
panel says so; with an OpenAI-compatible endpoint or a Hugging Face model directory the server
or the directory decides the model and the switch is off.
"""

from __future__ import annotations

import gradio as gr

from coach.config import MODEL_CHOICES, Config
from coach.errors import CoachError
from coach.llm import spec_for
from coach.search import MODEL_ID as EMBEDDER
from coach.search import rerank
from coach.ui import faults
from coach.ui.state import ServerState, UiContext


def switchable(cfg: Config) -> bool:
    return cfg.backend != "openai" and cfg.hf_model_dir is None


def facts(state: ServerState) -> str:
    """A markdown table of what the server runs on."""
    cfg = state.cfg
    model_file = cfg.models_dir / spec_for(cfg.model).filename
    if cfg.backend == "openai":
        llm = f"served by `{cfg.endpoint}` (model id: {cfg.endpoint_model or 'first listed'})"
    elif cfg.hf_model_dir is not None:
        llm = f"Hugging Face directory `{cfg.hf_model_dir}`"
    else:
        found = "" if model_file.exists() else " — **missing: run ./scripts/setup.sh**"
        llm = f"{cfg.model}, `{model_file}`{found}"
    if cfg.reranker_path is not None:
        reranker = f"configured: `{cfg.reranker_path}`"
    else:
        try:
            decision = rerank.defaults()
            reranker = "trained cross-encoder, on" if decision["use_reranker"] else "off"
            reranker += f" (dev-split decision: {decision.get('why', 'no decision recorded')})"
        except CoachError as exc:  # shown, not hidden: search fails with the same message
            reranker = f"**unknown: {exc.message}**"
    rows = [
        ("Language model", llm),
        ("Backend", cfg.backend + (f" at `{cfg.endpoint}`" if cfg.endpoint else "")),
        ("Embedder", EMBEDDER),
        ("Reranker", reranker),
        ("Index", f"`{cfg.index_dir}`"),
        ("Data dir (COACH_HOME)", f"`{cfg.home}`"),
        ("Threads · context", f"{cfg.threads} · {cfg.n_ctx} tokens"),
    ]
    return "| | in use |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def switch(state: ServerState, model: str) -> tuple[str, str]:
    """Switch the server's model and load it now, so the next answer does not wait for it."""
    previous = state.cfg.model
    if model == previous:
        return facts(state), f"Already using {model}."
    try:
        state.switch_model(model)
        state.asker().generator.warm_up()
    except Exception as exc:  # e.g. a missing model file: say so and keep the working model
        state.switch_model(previous)
        message = faults.describe(exc, state.cfg.logs_dir)
        return facts(state), f"**Could not load {model}; still using {previous}.** {message}"
    return facts(state), (
        f"Now using **{model}** for the whole server: every session's next answer. "
        "Answers already streaming finish on the previous model."
    )


def build(ctx: UiContext) -> None:
    state = ctx.state
    with gr.Accordion("Settings: models and data", open=False, elem_id="settings"):
        table = gr.Markdown(facts(state), elem_id="settings-facts")
        with gr.Row():
            model = gr.Radio(
                list(MODEL_CHOICES),
                value=state.cfg.model,
                label="Language model (applies to the whole server, every session)",
                info="1.5B answers and grades better; 0.5B is about 1.5x faster.",
                interactive=switchable(state.cfg),
                elem_id="settings-model",
            )
            apply = gr.Button(
                "Use this model",
                elem_id="settings-apply",
                scale=0,
                interactive=switchable(state.cfg),
            )
        note = gr.Markdown("", elem_id="settings-note")

    def on_apply(name: str) -> tuple[str, str]:
        return switch(state, name)

    apply.click(on_apply, model, [table, note], concurrency_id="settings")
