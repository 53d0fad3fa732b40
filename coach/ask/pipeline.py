"""Ask: a question in, a grounded and cited answer out, streamed, in a conversation.

input guardrails -> (follow-up rewriting) -> hybrid search -> scope decision -> prompt with
numbered sources -> streamed generation -> output guardrails -> AnswerResult (+ turn log).
The stream holds back its last few characters until the end so that the canary, a leaked
marker or the abstain marker can be caught before any of it reaches the user.
Leaves out: retrieval internals (coach/search/), the checks themselves (guardrails/).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from coach import guardrails
from coach.ask.support import support_scores
from coach.ask.turnlog import TurnLog
from coach.config import Config
from coach.errors import BackendError, BadInput
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


def closest_list(result: SearchResult, n: int = 3) -> str:
    return ", ".join(f"{h.id} ({h.title})" for h in result.hits[:n]) or "none"


class _HoldBack:
    """Emit streamed text except the last `keep` characters, which wait for the end."""

    def __init__(self, emit: Callable[[str], None] | None, keep: int):
        self.emit = emit
        self.keep = keep
        self.text = ""
        self.sent = 0

    def add(self, piece: str) -> None:
        self.text += piece
        upto = len(self.text) - self.keep
        if self.emit and upto > self.sent:
            self.emit(self.text[self.sent : upto])
            self.sent = upto


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
    hold: _HoldBack | None = None

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
    ):
        self.cfg = cfg
        self.searcher = searcher or get_searcher(cfg)
        self.generator = generator or get_generator(cfg)
        self._guards = guards
        self.support = support or support_scores
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
    ) -> AnswerResult:
        """Answer one question.

        `check_input=False` and `check_scope=False` bypass the input layer and the scope
        refusal, so leak tests reach the model and the output layer.
        """
        if not isinstance(question, str):
            raise BadInput("The question must be text.")
        turn = _Turn(question, time.perf_counter())
        safe_question = question
        if check_input:
            verdict = guardrails.check_input(question, context="ask", guards=self.guards)
            self._raise_for_size(verdict, question)
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
        turn.sources = self._sources(turn.result)
        return self._generate(turn, question, on_token, cancel)

    def _raise_for_size(self, verdict: guardrails.Verdict, question: str) -> None:
        """Empty and oversized questions are bad input, not refusals: say what to change."""
        if "empty" in verdict.names:
            raise BadInput("The question is empty.", code="empty")
        if "size_limit" in verdict.names:
            raise BadInput(
                f"The question is {len(question):,} characters; the limit is "
                f"{self.cfg.max_question_chars:,}. Shorten it to the part you want answered.",
                code="size_limit",
            )

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

    def _sources(self, result: SearchResult) -> list[Source]:
        return [
            Source(h.id, h.title, result.chunk_texts[h.chunk_id])
            for h in result.hits[: self.cfg.k_sources]
        ]

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

    def _generate(self, turn: _Turn, question: str, on_token, cancel) -> AnswerResult:
        marker = prompts.load("answer")["abstain_marker"]
        turn.hold = _HoldBack(on_token, keep=max(len(CANARY), len(marker)) + 2)
        t0 = time.perf_counter()
        stream = self.generator.stream(
            self._messages(question, turn.sources),
            max_tokens=self.cfg.max_answer_tokens,
            cancel=cancel,
        )
        try:
            while True:
                try:
                    turn.hold.add(next(stream))
                except StopIteration as stop:
                    reply = stop.value
                    break
                if CANARY in turn.hold.text and cancel is not None:
                    cancel.cancel()
        except BackendError as exc:
            text = prompts.render("refusals", "backend_failed", reason=exc.message)
            return self._finish(turn, text, "backend_error")
        turn.timing["first_token_s"] = round(t0 - turn.start + reply.first_token_s, 4)
        turn.add_tokens(reply)
        raw = reply.text
        if reply.finish_reason == "cancelled" and CANARY not in raw:
            raw = raw.rstrip() + " " + prompts.render("refusals", "cancelled")
        if marker in raw and CANARY not in raw:
            turn.flags.append("abstained")
            text = prompts.render("refusals", "abstained", closest=closest_list(turn.result))
            return self._finish(turn, text, "abstained")
        text, out_verdict = guardrails.check_output(
            raw,
            [s.id for s in turn.sources],
            CANARY,
            support=lambda sents, passages: self.support(sents, passages),
            sources=[s.passage for s in turn.sources],
            system_prompt=self.system_prompt,
            guards=self.guards,
        )
        turn.add_verdict(out_verdict)
        refused = None if out_verdict.allowed else out_verdict.blocking()[0].name
        return self._finish(turn, text, refused)

    def _finish(self, turn: _Turn, answer: str, refused: str | None = None) -> AnswerResult:
        timing = {"retrieve_s": 0.0, "first_token_s": None, **turn.timing}
        timing["total_s"] = round(time.perf_counter() - turn.start, 4)
        citations = tuple(dict.fromkeys(re.findall(r"\[((?:Q\d{2}|P\d))\]", answer)))
        hold = turn.hold
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
            streamed=hold.text[: hold.sent] if hold else "",
        )
        self.turn_log.append(out)
        return out
