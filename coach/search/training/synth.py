"""Synthetic interview questions per chunk, written by the local LLM (doc2query data).

Regenerate with `python -m coach.search.training.synth` (about 15 CPU-minutes with the 1.5B model);
the output, `corpus/synthetic_questions.jsonl`, is committed data that the reranker and the
doc2query expansion train on. One JSON-schema field per question style, each with a maxLength:
DESIGN.md found that only this made a small model write varied questions. A reply that is not a
JSON object is counted and reported, never silently dropped: its chunk is retried by the next run,
and more than 10% of a run's calls skipped is an error. Leaves out: training.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from coach.config import CORPUS_DIR, load_config
from coach.errors import CoachError
from coach.handbook import Chunk, chunk_handbook, load_handbook

STYLES = {
    "definition": "a 'what is' or 'explain' question about the main idea",
    "how_why": "a 'how does' or 'why' question about a mechanism or reason",
    "comparison": "a 'difference between X and Y' or 'X vs Y' question",
    "detail": "a question about one specific detail: a number, a table row, an example",
    "scenario": "a practical interview scenario question ('you are building ...')",
    "keywords": "2 to 5 search keywords someone would type, no question mark",
}
SCHEMA = {
    "type": "object",
    "properties": {
        name: {"type": "string", "minLength": 8, "maxLength": 60 if name == "keywords" else 140}
        for name in STYLES
    },
    "required": list(STYLES),
}
# Two passes with different seeds and a warm temperature were meant to give two phrasings
# per style. What corpus/synthetic_questions.jsonl holds is less: 472 questions over 105 of
# 106 chunks, a second phrasing for only 12 (chunk, style) pairs; the decontamination check
# dropped 176 that were close to eval rows.
SEEDS = (11, 23)
# A schema-constrained reply should always parse; a few failures are tolerated (and retried
# by the next run), more mean something is broken.
MAX_SKIP_SHARE = 0.10
OUT = CORPUS_DIR / "synthetic_questions.jsonl"


def prompt(chunk: Chunk) -> list[dict[str, str]]:
    styles = "\n".join(f"- {name}: {desc}" for name, desc in STYLES.items())
    return [
        {
            "role": "system",
            "content": "You write realistic questions that an interviewer or a candidate "
            "preparing for an LLM engineering interview would ask. Each question must be "
            "answerable from the passage, in your own words, not copied from it.",
        },
        {
            "role": "user",
            "content": f"Passage:\n{chunk.text}\n\nWrite one question per style as JSON:\n{styles}",
        },
    ]


def generate(
    out: Path = OUT,
    model: str | None = None,
    limit: int | None = None,
    threads: int | None = None,
    generator=None,
) -> int:
    """Write the questions; returns how many. A reply that is not a JSON object skips its
    (chunk, seed) call, counted and reported: nothing is written for it, so a rerun retries it.
    More than MAX_SKIP_SHARE of this run's calls skipped is an error (the model or the prompt is
    broken, and the data would silently thin out)."""
    from coach.llm import get_generator

    cfg = load_config(model=model, threads=threads)
    gen = generator or get_generator(cfg)
    # Part intros only list topics: questions written from them would belong to other sections.
    chunks = [c for c in chunk_handbook(load_handbook()) if c.question_id.startswith("Q")][:limit]
    done = set()
    if out.exists():  # resumable: keep what an interrupted run wrote
        done = {(r["chunk_id"], r["seed"]) for r in map(json.loads, out.open(encoding="utf-8"))}
    n = 0
    calls = 0
    skipped: list[str] = []
    start = time.perf_counter()
    with out.open("a", encoding="utf-8") as f:
        # Seed-major order: an interrupted run still covers every chunk once.
        for i, (seed, chunk) in enumerate(((s, c) for s in SEEDS for c in chunks), 1):
            if (chunk.id, seed) in done:
                continue
            reply = gen.complete(
                prompt(chunk), max_tokens=300, temperature=0.8, schema=SCHEMA, seed=seed
            )
            calls += 1
            try:
                questions = json.loads(reply.text)
                if not isinstance(questions, dict):
                    raise ValueError(f"expected a JSON object, got {type(questions).__name__}")
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                skipped.append(f"{chunk.id} seed {seed}: {exc}")
                print(f"  skipped {skipped[-1]}", file=sys.stderr)
                continue
            for style, text in questions.items():
                if style in STYLES and isinstance(text, str) and text.strip():
                    row = {
                        "chunk_id": chunk.id,
                        "question_id": chunk.question_id,
                        "style": style,
                        "seed": seed,
                        "text": " ".join(text.split()),
                    }
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    n += 1
            f.flush()
            elapsed = time.perf_counter() - start
            total = len(chunks) * len(SEEDS)
            print(
                f"  {i}/{total} calls, {n} questions, {len(skipped)} skipped, {elapsed:.0f} s",
                file=sys.stderr,
            )
    check_skips(calls, skipped)
    return n


def check_skips(calls: int, skipped: list[str], max_share: float = MAX_SKIP_SHARE) -> None:
    """Report the skipped calls; raise when more than max_share of the calls were skipped.

    >>> check_skips(10, ["Q01-c0 seed 11: bad"])
    >>> check_skips(10, ["a", "b"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    coach.errors.CoachError: 2 of 10 synthetic-question calls (20%) gave no JSON object, ...
    """
    if not skipped:
        return
    print(
        f"  {len(skipped)} of {calls} calls skipped (reply not a JSON object); rerun to retry them",
        file=sys.stderr,
    )
    if len(skipped) > max_share * calls:
        raise CoachError(
            f"{len(skipped)} of {calls} synthetic-question calls ({len(skipped) / calls:.0%}) "
            f"gave no JSON object, over the {max_share:.0%} limit: {', '.join(skipped[:5])}. "
            "Check the model and the prompt, then rerun python -m coach.search.training.synth "
            "(it retries the skipped chunks)"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--model", default=None)
    ap.add_argument("--limit", type=int, default=None, help="only the first N chunks")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads")
    args = ap.parse_args(argv)
    try:
        generate(args.out, args.model, args.limit, args.threads)
    except CoachError as exc:
        print(f"synth: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
