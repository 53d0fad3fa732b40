"""Ask over the user's own collections: their own sentences, cited by file and heading.

input guardrails -> collection search (coach/search/collections.py) -> scope -> the answer ->
AnswerResult. The answer is extractive, like the handbook's quote mode: the paragraphs of the
best sections' passages closest to the question (MiniLM cosine), verbatim and in document
order, with the example each introduces ("... like this:" and the code after it), each group
cited `[notes:s12]`, then where each cited section is (file and heading path).
No model writes the facts, so none can be garbled; what is never shown is text the document
scan flagged as addressing the assistant (coach/guardrails/document_scan.py): a document is
data.

Leaves out: generate mode, follow-up rewriting and errata, which are the handbook's.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

import numpy as np

from coach import guardrails
from coach.ask.pipeline import AnswerResult, Source, raise_for_size
from coach.config import Config
from coach.errors import BadInput
from coach.guardrails.document_scan import PassageCleaner
from coach.search.collections import CollectionHit, CollectionSearcher, get_collection_searcher

K_HITS = 5
MAX_SECTIONS = 2  # cited sections per answer
MAX_PARAGRAPHS = 2  # quoted per section, besides the examples they introduce
MAX_EXAMPLE_BLOCKS = 3
# A second section is quoted only when it scores nearly as well as the first.
SECOND_SECTION_RATIO = 0.9
# A paragraph is quoted when its cosine with the question reaches this, or it is the section's
# best one; a section whose best paragraph is below ABSTAIN_COSINE does not answer.
PARAGRAPH_COSINE = 0.45
ABSTAIN_COSINE = 0.3
_CODE_CHARS = re.compile(r"[=(){}\[\]<>$#]|^\s*(>>>|\.\.\.|def |class |import |print)", re.M)


def paragraphs(passage: str, title: str = "") -> list[str]:
    """The passage's blank-line separated blocks, less a first line that is its heading.

    >>> paragraphs("2.1. Install\\n\\nRun it:\\n\\npip install x\\n", "Install")
    ['Run it:', 'pip install x']
    """
    blocks = [b.strip() for b in re.split(r"\n[ \t]*\n", passage) if b.strip()]
    if blocks and title and title in blocks[0] and len(blocks[0]) <= len(title) + 12:
        blocks = blocks[1:]
    return blocks


def is_code(block: str) -> bool:
    """A block that reads as code or output rather than prose (extracted HTML keeps no <pre>).

    >>> is_code("def f(a, L=[]):\\n    return L"), is_code("It is evaluated once.")
    (True, False)
    >>> is_code("python3 -m venv tutorial-env")
    True
    >>> is_code('>>> while True:\\n...     print("Oops!  Try again...")\\n...')
    True
    """
    # An interactive session ends in its "..." prompt, which reads like a full stop.
    if block.lstrip().startswith(">>>"):
        return True
    if block.rstrip().endswith((".", "?", "!", ":", ".)")):
        return False
    return bool(_CODE_CHARS.search(block) or "\n" in block or len(block.split()) <= 8)


def render(blocks: list[str]) -> str:
    """Prose as it is, each run of code blocks in one fence.

    >>> print(render(["Like this:", "x = 1", "y = 2"]))
    Like this:
    <BLANKLINE>
    ```
    x = 1
    <BLANKLINE>
    y = 2
    ```
    """
    out: list[str] = []
    for block in blocks:
        if is_code(block) and out and out[-1].endswith("\n```"):
            out[-1] = out[-1][: -len("\n```")] + f"\n\n{block}\n```"
        else:
            out.append(f"```\n{block}\n```" if is_code(block) else block)
    return "\n\n".join(out)


def with_citation(text: str, ref: str) -> str:
    """The text with its citation: on a line of its own after a code fence, which must close
    alone on its line or the rest of the answer reads as code.

    >>> with_citation("Like this:\\n\\n```\\nx = 1\\n```", "n:s1")
    'Like this:\\n\\n```\\nx = 1\\n```\\n[n:s1]'
    """
    return f"{text}\n[{ref}]" if text.endswith("```") else f"{text} [{ref}]"


def where(hit: CollectionHit) -> str:
    """File and heading path of a hit, as a citation's label."""
    place = " › ".join(hit.heading_path) or hit.title
    return f"{hit.source} › {place}"


def closest(hits: Sequence[CollectionHit], n: int = 3) -> str:
    return "; ".join(f"[{h.id}] {where(h)}" for h in hits[:n]) or "none"


class CollectionAsker(guardrails.UsesGuards):
    """Answers from collections `names`; cheap to construct, models load on first use."""

    def __init__(
        self,
        cfg: Config,
        names: Sequence[str],
        searcher: CollectionSearcher | None = None,
        guards: guardrails.Guards | None = None,
        clean: Callable[[CollectionHit], str] | None = None,
        progress: Callable[[str], None] | None = None,
    ):
        self.cfg = cfg
        self.names = list(names)
        self.searcher = searcher or get_collection_searcher(cfg, names, progress=progress)
        self._guards = guards
        self.clean = clean or PassageCleaner(cfg)

    def ask(self, question: str, *, on_token: Callable[[str], None] | None = None) -> AnswerResult:
        if not isinstance(question, str):
            raise BadInput("The question must be text.")
        start = time.perf_counter()
        verdict = guardrails.check_input(question, context="ask", guards=self.guards)
        raise_for_size(verdict, question, self.cfg)
        flags = list(verdict.names)
        base = {"question": question, "flags": flags, "start": start, "on_token": on_token}
        if not verdict.allowed:
            reason = verdict.blocking()[0].name
            return self._result(**base, answer=guardrails.refusal_for(verdict), refused=reason)
        t0 = time.perf_counter()
        result = self.searcher.search(verdict.text, k=K_HITS)
        retrieve_s = time.perf_counter() - t0
        hits = list(result.hits)
        base.update(retrieve_s=retrieve_s, hits=hits)
        names = ", ".join(self.names)
        if not result.in_scope:
            flags.append("out_of_scope")
            text = (
                f"Your collection {names} doesn't cover that, so I won't guess. "
                f"The closest sections are: {closest(hits)}."
            )
            return self._result(**base, answer=text, refused="out_of_scope")
        chosen = self._choose(verdict.text, hits)
        if not chosen:
            text = (
                f"The sections I found in {names} don't answer that directly, so I won't "
                f"guess. The closest are: {closest(hits)}."
            )
            return self._result(**base, answer=text, refused="abstained")
        body = "\n\n".join(with_citation(render(blocks), hit.id) for hit, blocks in chosen)
        cited = "\n".join(f"[{hit.id}] {where(hit)}" for hit, _ in chosen)
        text = f"From your material ({names}):\n\n{body}\n\nSources:\n{cited}"
        sources = [Source(hit.id, where(hit), self.clean(hit)) for hit, _ in chosen]
        return self._result(**base, answer=text, refused=None, sources=sources)

    def _choose(self, query: str, hits: list[CollectionHit]) -> list[tuple]:
        """(hit, its quoted blocks in document order) for up to MAX_SECTIONS hits: the prose
        paragraphs closest to the question, each followed by the example it introduces."""
        if not hits:
            return []
        picked = [hits[0]] + [
            h for h in hits[1:MAX_SECTIONS] if h.score >= SECOND_SECTION_RATIO * hits[0].score
        ]
        embedder = self.searcher.embedder
        qv = np.asarray(embedder.embed([query])[0], dtype=np.float32)
        chosen = []
        for hit in picked:
            blocks = paragraphs(self.clean(hit), (hit.heading_path or (hit.title,))[-1])
            prose = [i for i, b in enumerate(blocks) if not is_code(b)]
            if not prose:
                continue
            cos = np.asarray(embedder.embed([blocks[i] for i in prose]), dtype=np.float32) @ qv
            if float(cos.max()) < ABSTAIN_COSINE:
                continue
            order = np.argsort(-cos)[:MAX_PARAGRAPHS]
            keep = {prose[j] for j in order if cos[j] >= PARAGRAPH_COSINE or j == order[0]}
            for i in sorted(keep):  # the example a kept paragraph introduces ("... like this:")
                if blocks[i].endswith((".", "?", "!")):
                    continue
                # extracted HTML cuts a <pre> at its blank lines: take up to MAX_EXAMPLE_BLOCKS
                for j in range(i + 1, min(i + 1 + MAX_EXAMPLE_BLOCKS, len(blocks))):
                    if not is_code(blocks[j]):
                        break
                    keep.add(j)
            chosen.append((hit, [blocks[i] for i in sorted(keep)]))
        return chosen

    def _result(
        self,
        question: str,
        flags: list[str],
        start: float,
        on_token,
        answer: str,
        refused: str | None,
        hits: Sequence[CollectionHit] = (),
        retrieve_s: float = 0.0,
        sources: Sequence[Source] = (),
    ) -> AnswerResult:
        if on_token:
            on_token(answer)
        total = round(time.perf_counter() - start, 4)
        cited = re.findall(r"\[([\w.-]+:s\d+)\]", answer)
        citations = () if refused else tuple(dict.fromkeys(cited))
        return AnswerResult(
            question=question,
            answer=answer,
            refused=refused is not None,
            refusal_reason=refused,
            citations=citations,
            sources=tuple(sources),
            flags=tuple(dict.fromkeys(flags)),
            timing={"retrieve_s": round(retrieve_s, 4), "first_token_s": total, "total_s": total},
            tokens={"prompt": 0, "completion": 0},
            retrieved_ids=tuple(h.id for h in hits),
            streamed=answer if on_token else "",
            mode="quote",
        )
