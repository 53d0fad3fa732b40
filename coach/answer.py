"""Ask: a question in, a grounded and cited answer out, streamed, in a conversation.

input guardrails -> (follow-up rewriting) -> hybrid search -> scope decision -> prompt with
numbered sources -> streamed generation -> output guardrails -> AnswerResult (+ turn log).
The stream holds back its last few characters until the end so that the canary, a leaked
marker or the abstain marker can be caught before any of it reaches the user.
Leaves out: retrieval internals (retrieve.py), the checks themselves (guardrails/).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from coach import guardrails, prompts
from coach.config import Config
from coach.errors import BackendError, BadInput
from coach.generate import CancelToken, Generator, get_generator
from coach.retrieve import Searcher, SearchResult, get_searcher
from coach.support import support_scores
from coach.turnlog import TurnLog

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


class Asker:
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

    @property
    def guards(self) -> guardrails.Guards:
        if self._guards is None:
            self._guards = guardrails.real_guards()
        return self._guards

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
        start = time.perf_counter()
        if not isinstance(question, str):
            raise BadInput("The question must be text.")
        verdict = None
        if check_input:
            verdict = guardrails.check_input(question, context="ask", guards=self.guards)
            for name in ("empty", "size_limit"):
                if name in verdict.names:
                    limit = self.cfg.max_question_chars
                    msg = (
                        "The question is empty."
                        if name == "empty"
                        else f"The question is {len(question):,} characters; the limit is "
                        f"{limit:,}. Shorten it to the part you want answered."
                    )
                    raise BadInput(msg, code=name)
            if not verdict.allowed:
                return self._finish(
                    question,
                    start,
                    refused=verdict.names[0],
                    answer=guardrails.refusal_for(verdict),
                    flags=verdict.names,
                    verdicts=[verdict],
                )
        elif not question.strip():
            raise BadInput("The question is empty.", code="empty")
        safe_question = verdict.text if verdict else question
        query = safe_question
        timing: dict = {}
        tokens = {"prompt": 0, "completion": 0}
        if needs_rewrite(safe_question, history):
            query, rewrite_reply = self._rewrite(safe_question, history)
            tokens["prompt"] += rewrite_reply.prompt_tokens
            tokens["completion"] += rewrite_reply.completion_tokens
        t0 = time.perf_counter()
        result = self.searcher.search(query, k=max(self.cfg.k_sources, 3))
        timing["retrieve_s"] = round(time.perf_counter() - t0, 4)
        in_flags = list(verdict.names) if verdict else []
        if check_scope and not result.in_scope:
            text = prompts.render("refusals", "out_of_scope", closest=closest_list(result))
            return self._finish(
                question,
                start,
                refused="out_of_scope",
                answer=text,
                flags=[*in_flags, "out_of_scope"],
                timing=timing,
                query=query,
                result=result,
                verdicts=[verdict] if verdict else [],
            )
        sources = self._sources(result)
        return self._generate(
            question,
            query,
            result,
            sources,
            in_flags,
            timing,
            tokens,
            start,
            on_token,
            cancel,
            verdict,
        )

    def _rewrite(self, question: str, history: Sequence[dict]):
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
        try:
            query = str(json.loads(reply.text)["query"]).strip() or question
        except (ValueError, KeyError, TypeError):
            query = question  # a failed rewrite still leaves a usable query
        return query, reply

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

    def _generate(
        self,
        question,
        query,
        result,
        sources,
        in_flags,
        timing,
        tokens,
        start,
        on_token,
        cancel,
        verdict,
    ) -> AnswerResult:
        marker = prompts.load("answer")["abstain_marker"]
        hold = _HoldBack(on_token, keep=max(len(CANARY), len(marker)) + 2)
        t0 = time.perf_counter()
        stream = self.generator.stream(
            self._messages(question, sources),
            max_tokens=self.cfg.max_answer_tokens,
            cancel=cancel,
        )
        try:
            while True:
                try:
                    hold.add(next(stream))
                except StopIteration as stop:
                    reply = stop.value
                    break
                if CANARY in hold.text and cancel is not None:
                    cancel.cancel()
        except BackendError as exc:
            text = prompts.render("refusals", "backend_failed", reason=exc.message)
            return self._finish(
                question,
                start,
                refused="backend_error",
                answer=text,
                flags=in_flags,
                timing=timing,
                query=query,
                result=result,
                sources=sources,
            )
        timing["first_token_s"] = round(t0 - start + reply.first_token_s, 4)
        tokens["prompt"] += reply.prompt_tokens
        tokens["completion"] += reply.completion_tokens
        raw = reply.text
        if reply.finish_reason == "cancelled" and CANARY not in raw:
            raw = raw.rstrip() + " " + prompts.render("refusals", "cancelled")
        if marker in raw and CANARY not in raw:
            text = prompts.render("refusals", "abstained", closest=closest_list(result))
            return self._finish(
                question,
                start,
                refused="abstained",
                answer=text,
                flags=in_flags,
                timing=timing,
                tokens=tokens,
                query=query,
                result=result,
                sources=sources,
                on_token=hold,
            )
        text, out_verdict = guardrails.check_output(
            raw,
            [s.id for s in sources],
            CANARY,
            support=lambda sents, passages: self.support(sents, passages),
            sources=[s.passage for s in sources],
            system_prompt=self.system_prompt,
            guards=self.guards,
        )
        flags = [*in_flags, *out_verdict.names]
        refused = None if out_verdict.allowed else out_verdict.blocking()[0].name
        verdicts = [v for v in (verdict, out_verdict) if v is not None]
        return self._finish(
            question,
            start,
            refused=refused,
            answer=text,
            flags=flags,
            timing=timing,
            tokens=tokens,
            query=query,
            result=result,
            sources=sources,
            on_token=hold,
            verdicts=verdicts,
        )

    def _finish(
        self,
        question,
        start,
        *,
        refused,
        answer,
        flags,
        timing=None,
        tokens=None,
        query="",
        result=None,
        sources=(),
        on_token=None,
        verdicts=(),
    ) -> AnswerResult:
        timing = dict(timing or {})
        timing.setdefault("retrieve_s", 0.0)
        timing.setdefault("first_token_s", None)
        timing["total_s"] = round(time.perf_counter() - start, 4)
        citations = tuple(dict.fromkeys(re.findall(r"\[((?:Q\d{2}|P\d))\]", answer)))
        out = AnswerResult(
            question=question,
            answer=answer,
            refused=refused is not None,
            refusal_reason=refused,
            citations=() if refused else citations,
            sources=tuple(sources),
            flags=tuple(dict.fromkeys(flags)),
            timing=timing,
            tokens=dict(tokens or {"prompt": 0, "completion": 0}),
            query=query,
            retrieved_ids=tuple(h.id for h in result.hits) if result else (),
            verdicts=tuple(v.to_json() for v in verdicts),
            streamed=on_token.text[: on_token.sent] if isinstance(on_token, _HoldBack) else "",
        )
        self.turn_log.append(out)
        return out
