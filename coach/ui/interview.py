"""The Mock interview tab: the coach asks handbook questions (or the chosen sections of one of
your collections, graded on their rubrics), grades the answers, follows up.

The session logic is coach.interview.session's `InterviewSession`, the same one `coach interview`
drives; this tab only lays it out. Each browser session keeps an `InterviewState` in `gr.State`:
the session id (the plan and the position live in the progress store, so a closed tab can
resume) and the follow-up being waited for, which the store does not keep. Every handler
rebuilds the `InterviewSession` from those two on the server's current store and grader, so a
model switch or a progress reset applies to the next step.

Grading runs in the model's concurrency group (one in-process model, shared with Ask); the
status tracker on the grade shows the queue position while it waits. Skip, reveal and next
touch only the store and run off the queue. Citations link to `#iv-cite-Q21`: a click opens the
section in this tab's side panel (`CITE_JS`, as in the Ask tab, with its own prefix and button).
Leaves out: grading (coach/interview/grade.py), scheduling (coach/interview/schedule.py).
"""

from __future__ import annotations

import html
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable

import gradio as gr

from coach.errors import BadInput, CoachError
from coach.interview import MAX_COUNT, Grade, InterviewSession, Step
from coach.ui import ask, faults, material, render
from coach.ui.state import ServerState, UiContext

ALL_PARTS = "all"
MODES = (
    ("Due reviews first", "due"),
    ("Weakest first", "weakest"),
    ("Unseen first", "new_first"),
)
CITE_PREFIX = "#iv-cite-"
IDLE = (
    "Choose what to practise (the handbook, or one of your collections from My material), a "
    "part, how many questions and the order, then press **Start interview**."
)
HANDBOOK = "Handbook"
FIRST_FEW = 3  # sections of a collection chosen when it is picked
FINISHED = "**Interview finished.** The summary is below; start another one above."
PANEL_HINT = (
    "After a grade, click a citation such as **[Q17]** to read that handbook section here. "
    "The question you are answering is not linked, so the answer stays hidden until you try."
)
WAITING = "Waiting for the model to grade your answer (its queue position shows on the grade)…"
BUSY = "Wait for the grade of your answer first."
GRADE_WAIT_HTML = "<p><i>Grading…</i></p>"
# Kept in step with `Grader`: a 0.5B model's yes/no logits are a weak signal (DESIGN.md).
WEAK_GRADER = "qwen2.5-coder-0.5b"
OUTPUTS = (
    "question",
    "answer",
    "submit",
    "skip",
    "reveal",
    "next",
    "status",
    "summary",
    "grade",
    "model",
    "resume",
)

CITE_JS, CITE_INPUT_JS = render.citation_click_js("iv-cite-", "iv-cite-open")


class InterviewState:
    """One browser session's interview; handlers change it under `lock`.

    A plain class, not a dataclass: gradio serialises dataclass State values into the page.
    """

    def __init__(self) -> None:
        self.session_id: str | None = None
        self.follow_up: tuple[str, str] | None = None  # (parent attempt id, probe)
        self.busy = False  # an answer is being graded
        self.lock = threading.Lock()

    def __deepcopy__(self, memo) -> InterviewState:
        # gr.State copies its default for every new session: each gets a fresh one.
        return InterviewState()


# -- rendering (pure) -----------------------------------------------------------------------

_MARKS = {"covered": ("✓", "#16a34a"), "partial": ("◐", "#d97706"), "missed": ("✗", "#dc2626")}
_BRACKET_ID = re.compile(r"\[((?:Q\d{2}|P\d))\]")
_LEADING_ID = re.compile(r"^(Q\d{2}):")


def link_ids(escaped: str, known: Iterable[str]) -> str:
    """HTML links for `[Q21]` and a leading `Q21:` in already escaped text.

    >>> link_ids("Q21: temperature; read [Q22]", {"Q21", "Q22"})
    '<a href="#iv-cite-Q21">Q21</a>: temperature; read <a href="#iv-cite-Q22">[Q22]</a>'
    """
    known = set(known)

    def anchor(text: str, ref: str) -> str:
        return f'<a href="{CITE_PREFIX}{ref}">{text}</a>' if ref in known else text

    linked = _BRACKET_ID.sub(lambda m: anchor(m[0], m[1]), escaped)
    return _LEADING_ID.sub(lambda m: anchor(m[1], m[1]) + ":", linked)


def grade_html(grade: Grade, title: str, known: Iterable[str]) -> str:
    """The score gauge, each rubric point with its verdict and evidence, errors and feedback.
    Everything from the answer is escaped: it is the candidate's text, shown back as data."""
    counts = Counter(p.verdict for p in grade.points)
    tally = " · ".join(f"{counts[v]} {v}" for v in _MARKS)
    flags = ", ".join(grade.flags)
    flags = f"<br><small>flags: {html.escape(flags)}</small>" if flags else ""
    out = [
        '<div class="iv-result" style="display:flex;gap:18px;align-items:center">',
        render.score_gauge_svg(grade.score),
        f"<div><b>{html.escape(title)}</b><br>{tally}{flags}</div></div>",
        '<ul class="iv-points" style="list-style:none;padding-left:0">',
    ]
    for p in grade.points:
        mark, colour = _MARKS[p.verdict]
        evidence = f"<br><small>you said: “{html.escape(p.evidence)}”</small>" if p.evidence else ""
        out.append(
            f'<li class="pt pt-{p.verdict}" style="margin:6px 0">'
            f'<span style="color:{colour};font-weight:bold" title="{p.verdict}">{mark} '
            f"{p.verdict}</span> — {html.escape(p.point.point)}{evidence}</li>"
        )
    out.append("</ul>")
    for error in grade.errors:
        out.append(f'<p class="iv-error" style="color:#dc2626">⚠ {html.escape(error)}</p>')
    out.append(f'<p class="iv-feedback">{link_ids(html.escape(grade.feedback), known)}</p>')
    return "".join(out)


def model_markdown(step: Step, title: str, known: Iterable[str]) -> str:
    text = step.model_answer or (step.grade.model_answer if step.grade else "")
    if not text:
        return ""
    whose = "The answer in your material" if ":" in step.question else "The handbook's answer"
    return f"#### {whose} · {title}\n\n" + render.link_citations(text, known, CITE_PREFIX)


def summary_html(summary: dict, part_titles: dict[str, str], known: Iterable[str]) -> str:
    """The end of a session: mean score, scores per part, strongest and weakest points, and
    what to read."""
    mean = summary["mean_score"]
    counts = (
        f"{summary['answered']} answered · {summary['skipped']} skipped · "
        f"{summary['revealed']} revealed · {summary['follow_ups']} follow-ups"
    )
    gauge = render.score_gauge_svg(mean, "session mean") if mean is not None else ""
    rows = [
        {"label": f"{part} · {part_titles.get(part, '')}", "value": score}
        for part, score in summary["by_part"].items()
    ]
    out = [
        '<div id="iv-summary-body"><h3>Interview summary</h3>',
        f'<div style="display:flex;gap:18px;align-items:center">{gauge}<p>{counts}</p></div>',
        "<h4>Score per part</h4>",
        render.hbar_chart_svg(rows),
    ]
    for key, heading in (
        ("strongest", "Strongest points (covered)"),
        ("weakest", "Weakest points (missed)"),
        ("read", "What to read next"),
    ):
        if summary[key]:
            items = "".join(f"<li>{link_ids(html.escape(t), known)}</li>" for t in summary[key])
            out.append(f"<h4>{heading}</h4><ul>{items}</ul>")
    out.append("</div>")
    return "".join(out)


# -- handlers (module-level so tests can drive them without a browser) ----------------------


def _problem(state: ServerState, exc: Exception, what: str = "Could not do that") -> str:
    return f"**{what}.** {faults.describe(exc, state.cfg.logs_dir)}"


def _rebuild(state: ServerState, holder: InterviewState) -> InterviewSession:
    """The browser session's interview on the server's current store and grader."""
    try:
        session = InterviewSession(state.progress(), state.grader(), holder.session_id)
    except BadInput:
        # The store no longer has it: the progress was reset or replaced meanwhile.
        holder.session_id, holder.follow_up = None, None
        raise BadInput(
            "This interview is no longer in your progress (was it reset?); start a new one."
        ) from None
    session.pending_follow_up = holder.follow_up
    return session


def _resume_button(state: ServerState, holder: InterviewState):
    """Offer the newest unfinished session that this page is not already running."""
    try:
        unfinished = state.progress().unfinished_sessions()
    except CoachError:
        return gr.Button(visible=False)  # the Progress tab shows the store's problem
    if not unfinished or unfinished[0]["id"] == holder.session_id:
        return gr.Button(visible=False)
    s = unfinished[0]
    left = len(s["plan"]) - s["position"]
    when = s["started_at"].astimezone().strftime("%b %d %H:%M")
    return gr.Button(f"Resume unfinished ({left} of {len(s['plan'])} left, {when})", visible=True)


def _live(state: ServerState, session: InterviewSession | None) -> dict:
    """The question, the answer box and the buttons for where the session stands."""
    if session is None or session.done:
        off = gr.Button(interactive=False)
        return {
            "question": IDLE if session is None else FINISHED,
            "answer": gr.Textbox(value="", label="Your answer"),
            "submit": gr.Button("Submit answer", interactive=False),
            "skip": gr.Button(interactive=False, visible=True),
            "reveal": off,
            "next": gr.Button(visible=False),
        }
    q = session.current()
    head = f"**{session.progress_label()}** · {q.id} · {q.title}"
    if session.pending_follow_up:
        probe = session.pending_follow_up[1]
        return {
            "question": f"{head}\n\n### Follow-up\n{probe}\n\nAnswer it, or press **Next "
            "question** to move on.",
            "answer": gr.Textbox(value="", label="Your answer to the follow-up"),
            "submit": gr.Button("Submit follow-up", interactive=True),
            "skip": gr.Button(visible=False),
            "reveal": gr.Button(visible=False),
            "next": gr.Button(visible=True),
        }
    return {
        "question": f"{head}\n\n### {q.question}",
        "answer": gr.Textbox(value="", label="Your answer"),
        "submit": gr.Button("Submit answer", interactive=True),
        "skip": gr.Button(interactive=True, visible=True),
        "reveal": gr.Button(interactive=True, visible=True),
        "next": gr.Button(visible=False),
    }


def _after(state: ServerState, holder: InterviewState, session: InterviewSession) -> dict:
    """Save what the store does not keep, then lay out the next question or the summary."""
    holder.follow_up = session.pending_follow_up
    view = _live(state, session)
    if session.done:
        titles = {p.id: p.title for p in state.book.parts}
        view["summary"] = summary_html(session.summary(), titles, state.known_ids)
        view["resume"] = _resume_button(state, holder)
    return view


def start_interview(
    state: ServerState,
    holder: InterviewState,
    part: str,
    count: float,
    mode: str,
    questions: tuple[str, ...] = (),
    source: str | None = None,
) -> dict:
    """Start an interview on the handbook (a part, or all), or on one of the user's
    collections (`source`: its sections that have rubrics)."""
    collection = None if source in (None, "", HANDBOOK) else source
    with holder.lock:
        if holder.busy:
            raise gr.Error(BUSY)
        try:
            session = InterviewSession.start(
                state.progress(),
                state.grader(),
                part=None if collection or part in (None, "", ALL_PARTS) else part,
                count=int(count or 5),
                mode=mode or "due",
                questions=questions,
                collection=collection,
            )
        except CoachError as exc:
            return {"status": _problem(state, exc, "Could not start")}
        holder.session_id, holder.follow_up = session.id, None
        order = {v: k for k, v in MODES}.get(session.mode, session.mode).lower()
        return {
            **_live(state, session),
            "status": f"Started: {len(session.plan)} questions, {order}. Answer in your own "
            "words, as you would to an interviewer.",
            "summary": "",
            "grade": "",
            "model": "",
            "resume": _resume_button(state, holder),
        }


def resume_interview(state: ServerState, holder: InterviewState) -> dict:
    with holder.lock:
        if holder.busy:
            raise gr.Error(BUSY)
        try:
            session = InterviewSession.resume(state.progress(), state.grader())
        except CoachError as exc:
            return {"status": _problem(state, exc, "Could not resume")}
        if session is None:
            return {"status": "No unfinished interview to resume.", "resume": gr.skip()}
        holder.session_id, holder.follow_up = session.id, None
        return {
            **_live(state, session),
            "status": f"Resumed: {session.progress_label().lower()}.",
            "summary": "",
            "grade": "",
            "model": "",
            "resume": gr.Button(visible=False),
        }


def check_answer(holder: InterviewState, text: str) -> dict:
    """Refuse at once (no queue) what cannot be graded; mark the session busy otherwise."""
    if not (text or "").strip():
        raise gr.Error("Type your answer first (or press I don't know).")
    with holder.lock:
        if holder.session_id is None:
            raise gr.Error("Start an interview first.")
        if holder.busy:
            raise gr.Error(BUSY)
        holder.busy = True
    return {"status": WAITING}


def grade_answer(state: ServerState, holder: InterviewState, text: str) -> dict:
    """Grade the answer (or the follow-up's); never raises: failures become the status line,
    and the answer stays in the box to try again."""
    # Not under the lock while the model works: `busy` already keeps the other buttons off.
    try:
        session = _rebuild(state, holder)
        question = session.current()
        step = session.answer(text)
        with holder.lock:
            view = _after(state, holder, session)
    except Exception as exc:  # a readable message, the traceback in the log
        return {"status": _problem(state, exc, "Could not grade")}
    finally:
        with holder.lock:
            holder.busy = False
    title = f"{question.id} · {question.title}"
    grade = step.grade
    model = state.grader().cfg.model
    status = f"Graded by {model} in {grade.seconds:.1f} s."
    if model == WEAK_GRADER:
        status += " The 0.5B model grades less reliably; switch to 1.5B in Settings."
    return {
        **view,
        "grade": grade_html(
            grade, f"Follow-up on {title}" if step.kind == "follow_up" else title, state.known_ids
        ),
        "model": model_markdown(step, title, state.known_ids),
        "status": status,
    }


def _move(state: ServerState, holder: InterviewState, action: str) -> dict:
    """Skip, reveal or leave the follow-up: store writes only, no model."""
    with holder.lock:
        if holder.busy:
            raise gr.Error(BUSY)
        if holder.session_id is None:
            raise gr.Error("Start an interview first.")
        try:
            session = _rebuild(state, holder)
            question = session.current()
            step = getattr(session, action)()
            view = _after(state, holder, session)
        except CoachError as exc:
            return {"status": _problem(state, exc)}
    title = f"{question.id} · {question.title}"
    if action == "next":
        return {**view, "status": f"Moved on from {question.id}."}
    said = {"skip": "Skipped", "reveal": "Revealed the answer to"}[action]
    return {
        **view,
        "status": f"{said} {question.id}: it comes back soon for review.",
        "grade": f"<p><b>{html.escape(title)}</b>: {said.lower()}, not graded.</p>",
        "model": model_markdown(step, title, state.known_ids),
    }


def skip_question(state: ServerState, holder: InterviewState) -> dict:
    return _move(state, holder, "skip")


def reveal_answer(state: ServerState, holder: InterviewState) -> dict:
    return _move(state, holder, "reveal")


def next_question(state: ServerState, holder: InterviewState) -> dict:
    return _move(state, holder, "next")


def on_show(state: ServerState, holder: InterviewState) -> dict:
    """Page load and tab selection: offer to resume an unfinished interview."""
    return {"resume": _resume_button(state, holder)}


# -- layout -------------------------------------------------------------------------------


def section_choices(state: ServerState, name: str) -> list[tuple[str, str]]:
    """(label, ref) of collection `name`'s sections that have a rubric ([] when none)."""
    try:
        return [(label, f"{name}:{sid}") for label, sid in material.rubric_choices(state, name)]
    except CoachError:
        return []


def pick_source(state: ServerState, source: str | None, chosen: list[str] | None = None):
    """(part, sections) for what to practise: the handbook by part, or a collection by its
    sections with rubrics, keeping the ones still chosen (default: the first few)."""
    if source in (None, "", HANDBOOK):
        return gr.Dropdown(visible=True), gr.Dropdown(
            choices=[], value=[], multiselect=True, visible=False
        )
    choices = section_choices(state, source)
    refs = [ref for _, ref in choices]
    kept = [ref for ref in chosen or () if ref in refs] or refs[:FIRST_FEW]
    info = (
        "Asked in this order; clear them all to let Questions and Order choose."
        if choices
        else "No rubrics yet: propose them in My material."
    )
    return gr.Dropdown(visible=False), gr.Dropdown(
        choices=choices, value=kept, multiselect=True, visible=True, info=info
    )


def part_choices(state: ServerState) -> list[tuple[str, str]]:
    return [("All parts", ALL_PARTS)] + [(f"{p.id} · {p.title}", p.id) for p in state.book.parts]


def build(ctx: UiContext) -> None:
    state = ctx.state
    with gr.Tab("Mock interview", id="interview", elem_id="tab-interview") as tab:
        holder = gr.State(InterviewState())
        with gr.Row():
            source = gr.Dropdown(
                [HANDBOOK, *material.collection_names(state)],
                value=HANDBOOK,
                label="Practise",
                elem_id="iv-source",
                scale=2,
            )
            part = gr.Dropdown(
                part_choices(state), value=ALL_PARTS, label="Part", elem_id="iv-part", scale=2
            )
            sections = gr.Dropdown(
                [],
                value=[],
                multiselect=True,
                label="Sections (with rubrics)",
                visible=False,
                elem_id="iv-sections",
                scale=3,
            )
            count = gr.Slider(
                1, min(20, MAX_COUNT), value=5, step=1, label="Questions", elem_id="iv-count"
            )
            mode = gr.Radio(MODES, value="due", label="Order", elem_id="iv-mode", scale=2)
            with gr.Column(scale=1, min_width=180):
                start = gr.Button("Start interview", variant="primary", elem_id="iv-start")
                resume = gr.Button("Resume unfinished", visible=False, elem_id="iv-resume")
        with gr.Row():
            with gr.Column(scale=3):
                question = gr.Markdown(IDLE, elem_id="iv-question")
                answer = gr.Textbox(
                    label="Your answer",
                    lines=6,
                    max_lines=20,
                    placeholder="Answer in your own words, as you would to an interviewer.",
                    elem_id="iv-answer",
                )
                with gr.Row():
                    submit = gr.Button(
                        "Submit answer", variant="primary", interactive=False, elem_id="iv-submit"
                    )
                    skip = gr.Button("I don't know", interactive=False, elem_id="iv-skip")
                    reveal = gr.Button("Reveal the answer", interactive=False, elem_id="iv-reveal")
                    nxt = gr.Button("Next question", visible=False, elem_id="iv-next")
                status = gr.Markdown("", elem_id="iv-status")
                summary = gr.HTML("", elem_id="iv-summary")
                grade = gr.HTML("", elem_id="iv-grade", min_height=60)
                model = gr.Markdown("", elem_id="iv-model")
            with gr.Column(scale=2):
                panel = gr.Markdown(PANEL_HINT, elem_id="iv-panel", max_height=620)
                cite_ref = gr.Textbox(visible="hidden", elem_id="iv-cite-ref")
                cite_open = gr.Button("Open citation", visible="hidden", elem_id="iv-cite-open")

    comps = {
        "question": question,
        "answer": answer,
        "submit": submit,
        "skip": skip,
        "reveal": reveal,
        "next": nxt,
        "status": status,
        "summary": summary,
        "grade": grade,
        "model": model,
        "resume": resume,
    }
    outputs = [comps[name] for name in OUTPUTS]

    def wire(handler: Callable[..., dict]) -> Callable[..., tuple]:
        """Name-keyed handler results to the outputs' order; unnamed outputs stay as they are."""

        def run(*args):
            view = handler(*args)
            return tuple(view.get(name, gr.skip()) for name in OUTPUTS)

        return run

    def with_state(handler):
        return wire(lambda *args: handler(state, *args))

    def starting(page, p, n, m, src, refs):
        # A collection's chosen sections are the plan; none chosen: `n` of them by the order.
        questions = () if src in (None, "", HANDBOOK) else tuple(refs or ())
        return start_interview(state, page, p, n, m, questions=questions, source=src)

    start.click(wire(starting), [holder, part, count, mode, source, sections], outputs, queue=False)

    def refresh_sources(value: str):
        names = material.collection_names(state)
        return gr.Dropdown(choices=[HANDBOOK, *names], value=value if value in names else HANDBOOK)

    source.focus(refresh_sources, source, source, queue=False)
    source.change(lambda src: pick_source(state, src), source, [part, sections], queue=False)
    # Rubrics proposed in My material since the collection was picked show up here.
    sections.focus(
        lambda src, refs: pick_source(state, src, refs)[1],
        [source, sections],
        sections,
        queue=False,
    )
    resume.click(with_state(resume_interview), holder, outputs, queue=False)
    # The same concurrency group as Ask: one in-process model, one call at a time, and the
    # queue position shown on the grade is the real wait.
    model_queue = {"concurrency_id": "model", "concurrency_limit": 1}
    # Only the button submits: Enter in a multi-line answer is a new line, not "done".
    submit.click(wire(check_answer), [holder, answer], outputs, queue=False).success(
        with_state(grade_answer),
        [holder, answer],
        outputs,
        show_progress="full",
        show_progress_on=[grade],
        **model_queue,
    )
    skip.click(with_state(skip_question), holder, outputs, queue=False)
    reveal.click(with_state(reveal_answer), holder, outputs, queue=False)
    nxt.click(with_state(next_question), holder, outputs, queue=False)
    tab.select(with_state(on_show), holder, outputs, queue=False, show_progress="hidden")
    ctx.blocks.load(with_state(on_show), holder, outputs, queue=False, show_progress="hidden")

    def practise(page: InterviewState, ref: str) -> tuple:
        """Start a one-question interview on the question an Ask answer came from."""
        qid = (ref or "").split("@")[0]
        if not qid:
            return (gr.skip(),) * (len(OUTPUTS) + 1)
        view = start_interview(state, page, ALL_PARTS, 1, "due", questions=(qid,))
        return (*(view.get(name, gr.skip()) for name in OUTPUTS), gr.Tabs(selected="interview"))

    if ctx.practise is not None:
        ctx.practise.change(practise, [holder, ctx.practise], [*outputs, ctx.tabs], queue=False)

    def show(ref: str | None) -> str:
        return ask.open_section(state, ref)

    cite_open.click(show, cite_ref, panel, js=CITE_INPUT_JS, queue=False)
    ctx.blocks.load(None, js=CITE_JS)
