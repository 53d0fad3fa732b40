"""Ask: a question in, a grounded and cited answer out, streamed, in a conversation.

input guardrails -> (follow-up rewriting) -> search -> scope decision -> the answer -> output
guardrails -> AnswerResult (+ turn log). The answer has two modes (`Config.answer_mode`):
- "quote" (default): the handbook statements that answer the question (compose.py), each cited
  by its section, with the correction of any erratum they quote, then the section's interview
  tip; no model writes the facts, so none can be swapped or inverted;
- "generate": the model writes the answer from numbered sources and the sentence gate (gate.py)
  checks every sentence before it is shown: faithful sentences pass, garbled ones are replaced by
  the statement they garbled, unsupported ones are dropped, and the answer says so. If nothing
  passes, the relevant handbook statements are shown instead, labelled as such.
Leaves out: retrieval internals (coach/search/), the checks themselves (guardrails/).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from coach import guardrails
from coach.ask.compose import ComposeSettings, compose, render
from coach.ask.gate import SentenceGate
from coach.ask.support import support_scores
from coach.ask.turnlog import TurnLog
from coach.config import ANSWER_MODES, Config
from coach.errors import BackendError, BadInput
from coach.handbook import load_errata, load_handbook, statements_by_section
from coach.llm import CancelToken, Generator, get_generator, prompts
from coach.search import Searcher, SearchResult, get_searcher

# Never shown to users; if it ever appears in output, the system prompt leaked.
CANARY = "IC-CANARY-5be1f09d"
# Words that make a short message depend on what came before it.
_ANAPHORA = re.compile(
    r"\b(it|its|that|this|those|these|they|them|their|why|how come|what about|and|also|"
    r"instead|more|same|other|one|ones|example)\b",
    re.IGNORECASE,
)
# The coach's own notes inside an answer: italic asides, the ↺ mark of a replaced sentence.
_NOTES = re.compile(r"\s*\*\([^*]*\)\*|\s*↺|^\*[^*\n]*\*$", re.MULTILINE)
MAX_HISTORY_TURNS = 3
MAX_HISTORY_CHARS = 300  # per message: enough to resolve "it", cheap to prefill
REWRITE_SCHEMA = {
    "type": "object",
    "properties": {"query": {"type": "string", "minLength": 2, "maxLength": 200}},
    "required": ["query"],
}


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    passage: str


@dataclass(frozen=True)
class AnswerResult:
    question: str
    answer: str
    refused: bool
    refusal_reason: str | None
    citations: tuple[str, ...]
    sources: tuple[Source, ...]
    flags: tuple[str, ...]
    timing: dict
    tokens: dict
    query: str = ""  # the standalone query actually searched
    retrieved_ids: tuple[str, ...] = ()
    verdicts: tuple[dict, ...] = field(default_factory=tuple)
    scope_score: float | None = None  # the scope decision's score, for threshold studies
    # What on_token already showed. When `answer` does not start with it, the checks changed
    # the text and the caller must replace what it showed with `answer`.
    streamed: str = ""
    mode: str = "quote"  # "quote", "generate", or "fallback" (generated text failed the gate)
    tip: dict | None = None  # {"id", "label", "text"}: the section's interview tip, verbatim
    practise: str | None = None  # the handbook question to practise in a mock interview
    corrections: tuple[dict, ...] = ()  # errata whose span the answer quotes
    checks: dict = field(default_factory=dict)  # the sentence gate's counts (generate mode)

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "refusal_reason": self.refusal_reason,
            "citations": list(self.citations),
            "sources": [{"id": s.id, "title": s.title, "passage": s.passage} for s in self.sources],
            "flags": list(self.flags),
            "timing": self.timing,
            "tokens": self.tokens,
            "mode": self.mode,
            "tip": self.tip,
            "practise": self.practise,
            "corrections": list(self.corrections),
            "checks": self.checks,
        }


def needs_rewrite(question: str, history: Sequence[dict]) -> bool:
    """A follow-up needs rewriting when there is history and it leans on it.

    >>> needs_rewrite("and what about top-k?", [{"role": "user", "content": "top-p?"}])
    True
    >>> needs_rewrite("Explain how LoRA adapters reduce trainable parameters", [{}])
    False
    >>> needs_rewrite("why is that?", [])
    False
    """
    if not history:
        return False
    return bool(_ANAPHORA.search(question)) or len(question.split()) < 5


def bounded_history(history: Sequence[dict], turns: int = MAX_HISTORY_TURNS) -> str:
    """The last few messages, each cut short, as plain text for the rewriter.

    >>> bounded_history([{"role": "user", "content": "x" * 400}], turns=1)[:12]
    'user: xxxxxx'
    >>> len(bounded_history([{"role": "user", "content": "x" * 400}], turns=1))  # 6 + 300
    306
    """
    recent = [m for m in history if m.get("role") in ("user", "assistant")][-2 * turns :]
    return "\n".join(
        f"{m['role']}: {str(m.get('content', ''))[:MAX_HISTORY_CHARS]}" for m in recent
    )


def raise_for_size(verdict: guardrails.Verdict, question: str, cfg: Config) -> None:
    """Empty and oversized questions are bad input, not refusals: say what to change."""
    if "empty" in verdict.names:
        raise BadInput("The question is empty.", code="empty")
    if "size_limit" in verdict.names:
        raise BadInput(
            f"The question is {len(question):,} characters; the limit is "
            f"{cfg.max_question_chars:,}. Shorten it to the part you want answered.",
            code="size_limit",
        )


def closest_list(result: SearchResult, n: int = 3) -> str:
    return ", ".join(f"{h.id} ({h.title})" for h in result.hits[:n]) or "none"


@dataclass
class _Turn:
    """The working state of one Ask turn; `_finish` freezes it into an AnswerResult."""

    question: str
    start: float
    query: str = ""
    result: SearchResult | None = None
    sources: list[Source] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    verdicts: list = field(default_factory=list)
    timing: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    on_token: Callable[[str], None] | None = None
    shown: str = ""  # what on_token has shown so far
    mode: str = "quote"
    extras: dict = field(default_factory=dict)  # tip, practise, corrections, checks

    def emit(self, piece: str) -> None:
        self.shown += piece
        if self.on_token:
            self.on_token(piece)

    def add_verdict(self, verdict) -> None:
        self.verdicts.append(verdict)
        self.flags.extend(verdict.names)

    def add_tokens(self, reply) -> None:
        self.tokens["prompt"] += reply.prompt_tokens
        self.tokens["completion"] += reply.completion_tokens


class Asker(guardrails.UsesGuards):
    """Cheap to construct; the searcher, generator and guards load on first use."""

    def __init__(
        self,
        cfg: Config,
        searcher: Searcher | None = None,
        generator: Generator | None = None,
        guards: guardrails.Guards | None = None,
        support: Callable | None = None,
        turn_log: TurnLog | None = None,
        compose_settings: ComposeSettings | None = None,
    ):
        self.cfg = cfg
        self.searcher = searcher or get_searcher(cfg)
        self.generator = generator or get_generator(cfg)
        self._guards = guards
        self.support = support or support_scores
        self.compose = compose_settings or ComposeSettings()
        self.turn_log = turn_log if turn_log is not None else TurnLog(cfg.logs_dir / "turns.jsonl")

    def warm_up(self) -> None:
        self.searcher.warm_up()
        self.guards.warm_up()
        if hasattr(self.generator, "warm_up"):
            self.generator.warm_up()

    # -- the pipeline ------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        history: Sequence[dict] = (),
        *,
        on_token: Callable[[str], None] | None = None,
        cancel: CancelToken | None = None,
        check_input: bool = True,
        check_scope: bool = True,
        mode: str | None = None,
    ) -> AnswerResult:
        """Answer one question.

        `check_input=False` and `check_scope=False` bypass the input layer and the scope
        refusal, so leak tests reach the model and the output layer. `mode` ("quote" or
        "generate") overrides `Config.answer_mode` for this turn (the Ask tab's choice).
        """
        mode = mode or self.cfg.answer_mode
        if mode not in ANSWER_MODES:
            choices = ", ".join(ANSWER_MODES)
            raise BadInput(f"Unknown answer mode {mode!r}; choose one of {choices}.")
        if not isinstance(question, str):
            raise BadInput("The question must be text.")
        turn = _Turn(question, time.perf_counter(), on_token=on_token)
        safe_question = question
        if check_input:
            verdict = guardrails.check_input(question, context="ask", guards=self.guards)
            raise_for_size(verdict, question, self.cfg)
            turn.add_verdict(verdict)
            if not verdict.allowed:
                return self._finish(
                    turn, guardrails.refusal_for(verdict), verdict.blocking()[0].name
                )
            safe_question = verdict.text
        elif not question.strip():
            raise BadInput("The question is empty.", code="empty")
        turn.query = safe_question
        if needs_rewrite(safe_question, history):
            turn.query = self._rewrite(turn, safe_question, history)
        t0 = time.perf_counter()
        turn.result = self.searcher.search(turn.query, k=max(self.cfg.k_sources, 3))
        turn.timing["retrieve_s"] = round(time.perf_counter() - t0, 4)
        if check_scope and not turn.result.in_scope:
            turn.flags.append("out_of_scope")
            text = prompts.render("refusals", "out_of_scope", closest=closest_list(turn.result))
            return self._finish(turn, text, "out_of_scope")
        if mode == "generate":
            return self._generate(turn, question, cancel)
        return self._quote(turn)

    def _rewrite(self, turn: _Turn, question: str, history: Sequence[dict]) -> str:
        messages = [
            {"role": "system", "content": prompts.render("answer", "rewrite_system")},
            {
                "role": "user",
                "content": prompts.render(
                    "answer", "rewrite_user", history=bounded_history(history), question=question
                ),
            },
        ]
        reply = self.generator.complete(messages, max_tokens=60, schema=REWRITE_SCHEMA)
        turn.add_tokens(reply)
        try:
            return str(json.loads(reply.text)["query"]).strip() or question
        except (ValueError, KeyError, TypeError):
            return question  # a failed rewrite still leaves a usable query

    # -- the answer ----------------------------------------------------------------------------

    def _statements(self, turn: _Turn) -> tuple[list, float]:
        """The handbook statements that answer the query, and the best one's relevance."""
        hits = [(h.id, h.score) for h in turn.result.hits[: self.cfg.k_sources]]
        index = self.searcher.index
        return compose(
            turn.query,
            hits,
            statements_by_section(),
            turn.result.query_vector,
            lambda sid: index.statement_vectors[index.statement_row[sid]],
            self.compose,
        )

    def _sources_for(self, sections: Sequence[str]) -> list[Source]:
        """One source per section used, its passage the section's statements (the context the
        answer was checked against, and what the judge and ragas read)."""
        book, by_section = load_handbook(), statements_by_section()
        return [
            Source(sid, book.section(sid).title, " ".join(st.text for st in by_section[sid]))
            for sid in dict.fromkeys(sections)
        ]

    def _teach(self, turn: _Turn, chosen: Sequence) -> str:
        """The top section's interview tip (verbatim, unless the answer already quotes it) and
        the question to practise; returns the tip's text for the answer."""
        top = turn.result.hits[0].id
        turn.extras["practise"] = top if top.startswith("Q") else None
        if not top.startswith("Q") or any(st.section == top and st.kind == "tip" for st in chosen):
            return ""
        q = load_handbook().question(top)
        turn.extras["tip"] = {"id": q.id, "label": q.tip_label, "text": q.tip}
        tip = f"**{q.tip_label}** ({q.id}): {q.tip}"
        for e in load_errata():
            if e.question == q.id and e.span in q.tip:
                tip += f" *({e.note()})*"
                turn.extras.setdefault("corrections", []).append(e)
        return tip

    def _quote(self, turn: _Turn, label: str = "") -> AnswerResult:
        chosen, best = self._statements(turn)
        turn.extras.setdefault("checks", {})["relevance"] = round(best, 4)
        if not chosen or best < self.compose.min_relevance:
            text = prompts.render("refusals", "abstained", closest=closest_list(turn.result))
            return self._finish(turn, text, "abstained")
        turn.extras.setdefault("checks", {})["statements"] = [st.id for st in chosen]
        body, corrections = render(chosen, load_errata())
        turn.extras.setdefault("corrections", []).extend(corrections)
        turn.sources = self._sources_for([st.section for st in chosen])
        parts = [label, body, self._teach(turn, chosen)]
        text = "\n\n".join(p for p in parts if p)
        turn.timing["first_token_s"] = round(time.perf_counter() - turn.start, 4)
        turn.emit(text)
        return self._checked(turn, text)

    def _messages(self, question: str, sources: Sequence[Source]) -> list[dict]:
        block = "\n\n".join(
            prompts.render("answer", "source", id=s.id, title=s.title, passage=s.passage)
            for s in sources
        )
        return [
            {"role": "system", "content": self.system_prompt},
            {
                "role": "user",
                "content": prompts.render("answer", "user", sources=block, question=question),
            },
        ]

    @property
    def system_prompt(self) -> str:
        return prompts.render("answer", "system", canary=CANARY)

    def _generate(self, turn: _Turn, question: str, cancel) -> AnswerResult:
        turn.mode = "generate"
        top = turn.result.hits[: self.cfg.k_sources]
        hits = [h.id for h in top]
        # The prompt gets each hit's best chunk (prefill dominates latency); the gate checks
        # against every statement of those sections.
        turn.sources = [Source(h.id, h.title, turn.result.chunk_texts[h.chunk_id]) for h in top]
        by_section = statements_by_section()
        gate = SentenceGate([st for sid in hits for st in by_section[sid]], emit=turn.emit)
        t0 = time.perf_counter()
        stream = self.generator.stream(
            self._messages(question, turn.sources),
            max_tokens=self.cfg.max_answer_tokens,
            cancel=cancel,
        )
        try:
            while True:
                try:
                    gate.feed(next(stream))
                except StopIteration as stop:
                    reply = stop.value
                    break
        except BackendError as exc:
            text = prompts.render("refusals", "backend_failed", reason=exc.message)
            return self._finish(turn, text, "backend_error")
        report = gate.finish()
        turn.timing["first_token_s"] = round(t0 - turn.start + reply.first_token_s, 4)
        turn.add_tokens(reply)
        turn.extras["checks"] = {
            "sentences": len(report.verdicts),
            "quoted": report.count("quoted"),
            "replaced": report.count("garbled"),
            "dropped": report.count("unsupported"),
            "bracket_disagreements": report.bracket_disagreements,
            "verdicts": report.verdicts,
            "model_text": reply.text,  # before the gate, for the eval's before/after figures
        }
        if CANARY in reply.text:
            # The gate dropped it, but the model tried to reveal its instructions: refuse the
            # turn with the output guard's verdict on the raw text.
            return self._checked(turn, reply.text)
        if report.abstained and not report.shown:
            text = prompts.render("refusals", "abstained", closest=closest_list(turn.result))
            return self._finish(turn, text, "abstained")
        if not report.shown or report.count("quoted") == 0:
            # Nothing the model wrote survived as written: show the handbook instead, labelled.
            turn.flags.append("ungrounded")
            turn.mode = "fallback"
            return self._quote(turn, label=prompts.render("refusals", "fallback"))
        text = " ".join(report.shown)
        if note := report.note():
            text += f"\n\n*{note}*"
            turn.emit(f"\n\n*{note}*")
        if reply.finish_reason == "cancelled":
            text += " " + prompts.render("refusals", "cancelled")
        return self._checked(turn, text)

    def _checked(self, turn: _Turn, text: str) -> AnswerResult:
        """The output guardrails on the answer's claims; a blocking flag refuses the turn.

        The coach's own notes (errata corrections, the gate's note, the ↺ marks, the fallback
        label) are not claims about the sources, so the checks read the text without them."""
        claims = _NOTES.sub("", text)
        cleaned, verdict = guardrails.check_output(
            claims,
            [s.id for s in turn.sources],
            CANARY,
            support=lambda sents, passages: self.support(sents, passages),
            sources=[s.passage for s in turn.sources],
            system_prompt=self.system_prompt,
            guards=self.guards,
        )
        turn.add_verdict(verdict)
        refused = None if verdict.allowed else verdict.blocking()[0].name
        if refused:
            return self._finish(turn, cleaned, refused)
        return self._finish(turn, text if cleaned == claims else cleaned, None)

    def _finish(self, turn: _Turn, answer: str, refused: str | None = None) -> AnswerResult:
        timing = {"retrieve_s": 0.0, "first_token_s": None, **turn.timing}
        timing["total_s"] = round(time.perf_counter() - turn.start, 4)
        citations = tuple(dict.fromkeys(re.findall(r"\[((?:Q\d{2}|P\d))\]", answer)))
        out = AnswerResult(
            question=turn.question,
            answer=answer,
            refused=refused is not None,
            refusal_reason=refused,
            citations=() if refused else citations,
            sources=tuple(turn.sources),
            flags=tuple(dict.fromkeys(turn.flags)),
            timing=timing,
            tokens=dict(turn.tokens),
            query=turn.query,
            retrieved_ids=tuple(h.id for h in turn.result.hits) if turn.result else (),
            verdicts=tuple(v.to_json() for v in turn.verdicts),
            scope_score=round(turn.result.scope_score, 4) if turn.result else None,
            streamed=turn.shown,
            mode=turn.mode,
            tip=None if refused else turn.extras.get("tip"),
            practise=None if refused else turn.extras.get("practise"),
            corrections=()
            if refused
            else tuple(
                {"id": e.id, "question": e.question, "span": e.span, "correction": e.correction}
                for e in turn.extras.get("corrections", [])
            ),
            checks=turn.extras.get("checks", {}),
        )
        self.turn_log.append(out)
        return out
