"""The Ask tab: a streamed, cited conversation about the handbook, with a side panel.

Each browser session keeps a `ChatSession` in `gr.State`: what the chat shows, the answered
turns the Asker may use as history (it bounds them itself), and the turn in flight. A turn runs
`Asker.ask` in a worker thread whose `on_token` feeds a queue; the event handler drains it and
streams the chat. Stop cancels the turn's `CancelToken` (the model stops at its next token) and
withdraws a turn still waiting in the queue (`cancels=`).

Citations are markdown links to `#cite-Q17`. `CITE_JS`, installed on page load, catches clicks on
them, stores the id in `window.__coachCite` and clicks a hidden button whose event reads that id
and fills the side panel with the handbook section.
Leaves out: the pipeline itself (coach/ask/pipeline.py).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator, Sequence

import gradio as gr

from coach.ask import MAX_HISTORY_TURNS, AnswerResult
from coach.errors import CoachError
from coach.handbook import annotate
from coach.llm import CancelToken
from coach.ui import faults, material, render
from coach.ui.state import ServerState, UiContext

EXAMPLES = (
    "What does the temperature parameter do when sampling text?",
    "How does LoRA reduce the number of trainable parameters?",
    "What is the difference between top-k and top-p sampling?",
    "Why are attention scores divided by the square root of d_k?",
)
PANEL_HINT = (
    "Click a citation such as **[Q17]** in an answer, or pick a source above, to read that "
    "handbook section here."
)
MODES = {
    "quote": "the handbook's own sentences, cited (instant)",
    "generate": "the model's words, checked sentence by sentence against the handbook (slower)",
}
THINKING = "*Searching…*"
HANDBOOK = "Handbook"
STOPPED = "*(stopped)*"
BUSY = "Wait for the current answer, or press Stop."

CITE_JS, CITE_INPUT_JS = render.citation_click_js("cite-", "ask-cite-open")


class ChatSession:
    """One browser session's conversation; handlers mutate it under `lock`.

    A plain class, not a dataclass: gradio serialises dataclass State values into the page.
    """

    def __init__(self) -> None:
        self.display: list[dict] = []  # the Chatbot's messages (markdown)
        self.history: list[dict] = []  # answered turns, plain text
        self.question: str | None = None  # the turn in flight, or the last one (for retry)
        self.recorded = False  # whether that turn went into `history`
        self.busy = False
        self.cancel: CancelToken | None = None
        self.mode: str | None = None  # the answer mode picked in the tab (None: the config's)
        self.practise: str | None = None  # the question the last answer came from
        self.collection: str | None = None  # one of the user's collections (None: handbook)
        self.lock = threading.Lock()

    def __deepcopy__(self, memo) -> ChatSession:
        # gr.State copies its default for every new session: each gets a fresh, empty one.
        return ChatSession()

    def shown(self) -> list[dict]:
        """A copy for the Chatbot, so later in-place edits never alias what was sent."""
        return [dict(m) for m in self.display]


_END = object()


def stream_answer(
    ask: Callable[..., AnswerResult],
    question: str,
    history: Sequence[dict],
    cancel: CancelToken,
    mode: str | None = None,
) -> Generator[str, None, AnswerResult]:
    """Run one turn in a worker thread; yield the text shown so far; return the result.

    Pieces that arrive together are yielded as one update. Whatever the turn raised is raised
    here. Leaving early (the page closed, the event was cancelled) cancels the turn.
    """
    pieces: queue.Queue = queue.Queue()
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["result"] = ask(
                question, history, on_token=pieces.put, cancel=cancel, mode=mode
            )
        except BaseException as exc:  # handed to the consumer, never lost in the thread
            outcome["error"] = exc
        finally:
            pieces.put(_END)

    threading.Thread(target=work, name="coach-ask", daemon=True).start()
    shown = ""
    finished = False
    try:
        while not finished:
            batch = [pieces.get()]
            while True:
                try:
                    batch.append(pieces.get_nowait())
                except queue.Empty:
                    break
            finished = batch[-1] is _END
            text = "".join(p for p in batch if p is not _END)
            if text:
                shown += text
                yield shown
    finally:
        if not finished:
            cancel.cancel()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def collection_ask(asker) -> Callable[..., AnswerResult]:
    """The collection asker behind the Ask tab's turn interface (it keeps no history)."""

    def ask(question, _history, *, on_token=None, cancel=None, mode=None) -> AnswerResult:
        return asker.ask(question, on_token=on_token)

    return ask


# -- handlers (module-level so tests can drive them without a browser) ----------------------


def submit(text: str, session: ChatSession) -> tuple[str, list[dict]]:
    """Put the question in the chat at once (no queue); the answer follows in `respond`."""
    question = (text or "").strip()
    if not question:
        raise gr.Error("Type a question first.")
    with session.lock:
        if session.busy:
            raise gr.Error(BUSY)
        session.busy, session.question, session.recorded = True, question, False
        session.display.append({"role": "user", "content": question})
        return "", session.shown()


def prepare_retry(session: ChatSession) -> list[dict]:
    """Drop the last answer (and its history entry) so `respond` answers the question again."""
    with session.lock:
        if session.busy:
            raise gr.Error(BUSY)
        if not session.question:
            raise gr.Error("Nothing to retry yet: ask a question first.")
        if session.display and session.display[-1]["role"] == "assistant":
            session.display.pop()
        if session.recorded:
            del session.history[-2:]
            session.recorded = False
        session.busy = True
        return session.shown()


def stop_turn(session: ChatSession):
    """Stop the turn in flight: the model stops at its next token, the partial answer stays.

    Outputs (chat, status)."""
    with session.lock:
        if session.cancel is not None:
            session.cancel.cancel()
        if not session.busy:
            return gr.skip(), gr.skip()
        last = session.display[-1] if session.display else None
        if last is not None and last["role"] == "assistant":
            text = "" if last["content"] == THINKING else last["content"]
            last["content"] = f"{text}\n\n{STOPPED}".strip()
        else:  # still waiting in the queue: nothing was generated
            session.display.append({"role": "assistant", "content": STOPPED})
        session.busy, session.cancel = False, None
        return session.shown(), "Stopped."


def clear_conversation(session: ChatSession):
    with session.lock:
        if session.cancel is not None:
            session.cancel.cancel()
        session.display.clear()
        session.history.clear()
        session.question, session.recorded, session.busy, session.cancel = None, False, False, None
    return [], gr.Radio(choices=[], value=None, label="Sources"), "", PANEL_HINT


def practise_button(session: ChatSession):
    """Offer the question the last answer came from as a one-question mock interview."""
    ref = session.practise
    if not ref:
        return gr.Button(visible=False)
    return gr.Button(f"Practise {ref} in a mock interview", visible=True)


def open_section(state: ServerState, ref: str | None) -> str:
    if not ref:
        return gr.skip()
    if ":" in ref:  # a section of one of the user's collections
        return material.section_markdown(state, ref)
    try:
        record = state.book.section(ref)
        return annotate(record.to_markdown(), record.id)
    except CoachError as exc:
        return f"**{exc.message}**"


def _closest(state: ServerState, ids: Sequence[str], n: int = 3) -> list[tuple[str, str]]:
    return [(ref, state.book.section(ref).title) for ref in ids[:n] if ref in state.known_ids]


def _finish(state: ServerState, result: AnswerResult, model: str) -> tuple:
    """Sources radio, status line and side panel for a finished turn."""
    status = render.timing_line(result.timing, result.tokens, model)
    checks = [f for f in result.flags if f != result.refusal_reason]
    if checks:
        status += f" · checks: {', '.join(checks)}"
    if result.refusal_reason in render.SCOPE_REASONS and ":" not in "".join(result.retrieved_ids):
        closest = _closest(state, result.retrieved_ids)
        radio = gr.Radio(
            choices=[(f"{ref} · {title}", ref) for ref, title in closest],
            value=None,
            label="Closest handbook questions",
        )
        return radio, status, render.not_in_handbook_panel(closest)
    choices = [(f"{s.id} · {s.title}", s.id) for s in result.sources if not result.refused]
    if result.refusal_reason in render.SCOPE_REASONS and ":" in "".join(result.retrieved_ids):
        choices = [(ref, ref) for ref in result.retrieved_ids[:3]]  # a collection's closest
        return gr.Radio(choices=choices, value=None, label="Closest sections"), status, gr.skip()
    return gr.Radio(choices=choices, value=None, label="Sources"), status, gr.skip()


def respond(state: ServerState, session: ChatSession):
    """Stream the answer to `session.question` into the chat; outputs (chat, sources, status,
    panel). Never raises: failures become a short message in the chat."""
    token = CancelToken()
    with session.lock:
        # Stopped or cleared while it waited in the queue, just before gradio withdrew it.
        withdrawn = not session.busy or session.cancel is not None
        if not withdrawn:
            question = session.question
            history = list(session.history)
            collection = session.collection
            session.cancel = token
            message = {"role": "assistant", "content": THINKING}
            session.display.append(message)
            first = session.shown()
    if withdrawn:
        yield (gr.skip(),) * 4
        return
    extras: tuple = (gr.skip(), "", gr.skip())
    try:
        status = "Warming up the models (first start)…" if state.warming else "Answering…"
        yield first, gr.skip(), status, gr.skip()
        try:
            if collection:  # the user's own material: quoted, cited by file and heading
                asker = state.collection_asker(collection)
                ask = collection_ask(asker)
            else:
                asker = state.asker()
                ask = asker.ask
            stream = stream_answer(ask, question, history, token, session.mode)
            while True:
                try:
                    shown = next(stream)
                except StopIteration as stop:
                    result: AnswerResult = stop.value
                    break
                with session.lock:
                    if session.cancel is not token:  # stopped or cleared meanwhile
                        return
                    message["content"] = render.link_citations(shown, state.known_ids)
                    chat = session.shown()
                yield chat, gr.skip(), gr.skip(), gr.skip()
            content = render.answer_markdown(
                result.answer, result.refusal_reason, state.known_ids, material=bool(collection)
            )
            used = f"quoted from {collection}, no model" if collection else asker.cfg.model
            extras = _finish(state, result, used)
        except Exception as exc:  # a readable message in the chat, the traceback in the log
            content = render.problem_markdown(faults.describe(exc, state.cfg.logs_dir))
            result = None
        with session.lock:
            if session.cancel is not token:
                return
            message["content"] = content
            session.practise = result.practise if result is not None else None
            if result is not None and not result.refused:
                session.history += [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": result.answer},
                ]
                # The Asker reads only the last few turns; older ones would only pile up.
                del session.history[: -2 * MAX_HISTORY_TURNS]
                session.recorded = True
            session.busy, session.cancel = False, None
            chat = session.shown()
        yield chat, *extras
    finally:
        with session.lock:
            if session.cancel is token:  # left early: the page went away or the event ended
                token.cancel()
                session.busy, session.cancel = False, None


# -- layout -------------------------------------------------------------------------------


def build(ctx: UiContext) -> None:
    state = ctx.state
    with gr.Tab("Ask", id="ask", elem_id="tab-ask"):
        session = gr.State(ChatSession())
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    label="Coach",
                    elem_id="ask-chat",
                    height=460,
                    buttons=["copy"],
                    placeholder="Ask about anything in the handbook; answers cite it as [Q17].",
                )
                box = gr.Textbox(
                    label="Your question",
                    placeholder="e.g. What does temperature do when sampling?",
                    elem_id="ask-input",
                    max_lines=4,
                )
                with gr.Row():
                    send = gr.Button("Ask", variant="primary", elem_id="ask-send")
                    stop = gr.Button("Stop", variant="stop", elem_id="ask-stop")
                    retry = gr.Button("Retry last", elem_id="ask-retry")
                    clear = gr.Button("Clear conversation", elem_id="ask-clear")
                source = gr.Dropdown(
                    [HANDBOOK, *material.collection_names(state)],
                    value=HANDBOOK,
                    label="Answer from",
                    elem_id="ask-source",
                )
                mode = gr.Radio(
                    [(label, value) for value, label in MODES.items()],
                    value=state.cfg.answer_mode,
                    label="Answer with",
                    elem_id="ask-mode",
                )
                status = gr.Markdown("", elem_id="ask-status")
                practise = gr.Button(
                    "Practise this question", visible=False, elem_id="ask-practise", size="sm"
                )
                gr.Examples([[q] for q in EXAMPLES], inputs=[box], label="Start from an example")
            with gr.Column(scale=2):
                sources = gr.Radio([], label="Sources", elem_id="ask-sources")
                panel = gr.Markdown(PANEL_HINT, elem_id="ask-panel", max_height=620)
                cite_ref = gr.Textbox(visible="hidden", elem_id="ask-cite-ref")
                cite_open = gr.Button("Open citation", visible="hidden", elem_id="ask-cite-open")

    outputs = [chat, sources, status, panel]

    def answer(s: ChatSession):
        yield from respond(state, s)

    # Every model call shares one concurrency group: one in-process model, one turn at a time,
    # and the queue position the status tracker shows is the real wait.
    model_queue = {"concurrency_id": "model", "concurrency_limit": 1, "show_progress": "full"}
    asked = gr.on(
        [box.submit, send.click], submit, [box, session], [box, chat], queue=False
    ).success(answer, session, outputs, **model_queue)
    retried = retry.click(prepare_retry, session, chat, queue=False).success(
        answer, session, outputs, **model_queue
    )
    for event in (asked, retried):
        event.then(practise_button, session, practise, queue=False)
    if ctx.practise is not None:
        # A fresh value each click, so asking for the same question twice still starts it.
        practise.click(
            lambda s: f"{s.practise}@{time.time():.3f}" if s.practise else "",
            session,
            ctx.practise,
            queue=False,
        )
    stop.click(stop_turn, session, [chat, status], cancels=[asked, retried], queue=False)
    # The chat's own trash icon clears the same conversation as the button.
    gr.on(
        [clear.click, chat.clear],
        clear_conversation,
        session,
        outputs,
        cancels=[asked, retried],
        queue=False,
    )

    def show(ref: str | None) -> str:
        return open_section(state, ref)

    def pick_mode(value: str, s: ChatSession) -> None:
        s.mode = value

    mode.input(pick_mode, [mode, session], None, queue=False)

    def pick_source(value: str, s: ChatSession):
        s.collection = None if value in (None, HANDBOOK) else value
        # A collection is always quoted: the handbook's answer modes do not apply to it.
        return gr.Radio(visible=s.collection is None)

    def refresh_sources(value: str):
        names = material.collection_names(state)
        return gr.Dropdown(choices=[HANDBOOK, *names], value=value if value in names else HANDBOOK)

    # `change`, not `input`: a refresh that falls back to the handbook (the collection was
    # removed) must reach the session too.
    source.change(pick_source, [source, session], mode, queue=False)
    source.focus(refresh_sources, source, source, queue=False)
    sources.input(show, sources, panel, queue=False)
    cite_open.click(show, cite_ref, panel, js=CITE_INPUT_JS, queue=False)
    ctx.blocks.load(None, js=CITE_JS)
