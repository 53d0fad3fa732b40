"""Command bodies for the CLI: each takes parsed args and a JSON writer (None for text mode).

They call the library and format its results; they never parse argv and never exit.
Subcommands whose issue has not landed yet raise `NotBuilt` (exit 3, a plain message).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from coach.cliio import JsonOut, require_text, run_batch
from coach.config import load_config
from coach.errors import BadInput, SetupError, UsageError


class NotBuilt(SetupError):
    code = "not_built"

    def __init__(self, command: str):
        super().__init__(f"`coach {command}` is not built yet in this version of the coach.")


def say(msg: str) -> None:
    """Progress and logs: always stderr, so stdout stays clean for JSON."""
    print(msg, file=sys.stderr, flush=True)


def write_crash_log(text: str) -> Path:
    cfg_home = _safe_home()
    log_dir = cfg_home / "logs"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / f"crash-{dt.datetime.now():%Y%m%d-%H%M%S}.txt"
        path.write_text(text, encoding="utf-8")
        return path
    except OSError:
        return Path("(could not write a crash log)")


def _safe_home() -> Path:
    try:
        return load_config().home
    except SetupError:
        return Path.home() / ".local" / "share" / "coach"


def _check_text(text: str, limit: int = 100_000) -> str:
    if not text.strip():
        raise BadInput("The text is empty.", code="empty")
    if len(text) > limit:
        raise BadInput(
            f"The text is {len(text):,} characters; the limit is {limit:,}.", code="size_limit"
        )
    return text


# -- setup, index, doctor -----------------------------------------------------------------


def cmd_setup(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach.modelfiles import MODELS, ensure_model

    cfg = load_config()
    start = time.perf_counter()
    result = {"models": {}, "index": None}
    for name in MODELS:
        t = time.perf_counter()
        say(f"==> model {name}")
        path = ensure_model(name, cfg.models_dir, say)
        result["models"][name] = str(path)
        say(f"    ready: {path} ({time.perf_counter() - t:.1f} s)")
    if not args.skip_index:
        result["index"] = _build_index(cfg, rebuild=False)
    result["seconds"] = round(time.perf_counter() - start, 2)
    if out:
        out.emit(result)
    return 0


def _build_index(cfg, rebuild: bool) -> dict:
    from coach import index

    summary = index.ensure_index(cfg, rebuild=rebuild, progress=say).summary()
    if not summary["built"]:
        say(f"==> index: up to date in {summary['index_dir']}")
    return summary


def cmd_index(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach import index

    cfg = load_config()
    summary = index.ensure_index(cfg, rebuild=args.rebuild, progress=say).summary()
    if out:
        out.emit(summary)
    else:
        state = "built" if summary["built"] else "up to date"
        print(f"Index {state}: {summary['chunks']} chunks in {summary['index_dir']}")
    return 0


def cmd_doctor(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach import doctor

    checks = doctor.run_checks(load_config())
    ok = all(c.ok for c in checks)
    if out:
        out.emit({"ok": ok, "checks": [c.to_json() for c in checks]})
    else:
        for c in checks:
            mark = "ok " if c.ok else "FIX"
            print(f"[{mark}] {c.name}: {c.message}")
        print("All good." if ok else "Some checks failed: see the FIX lines above.")
    return 0 if ok else 3


# -- handbook -----------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach.parse import load_handbook

    book = load_handbook()
    section = book.section(args.ref)
    if out:
        out.emit(section_json(section))
    else:
        print(section.to_markdown())
    return 0


def section_json(section) -> dict:
    from coach.parse import Question

    if isinstance(section, Question):
        return {
            "id": section.id,
            "title": section.title,
            "question": section.question,
            "part": section.part,
            "answer": section.body,
            "tables": [t.to_markdown() for t in section.tables],
            "tip_label": section.tip_label,
            "tip": section.tip,
            "markdown": section.to_markdown(),
        }
    return {"id": section.id, "title": section.title, "markdown": section.to_markdown()}


# -- search -------------------------------------------------------------------------------


def cmd_search(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach import retrieve

    cfg = load_config()
    k = args.k if args.k is not None else cfg.k_search
    if k < 1 or k > 59:
        raise UsageError("--k must be between 1 and 59.")
    searcher = retrieve.get_searcher(cfg)

    def one(fields: dict) -> dict:
        text = _check_text(require_text(fields))
        return searcher.search(text, k=k).to_json()

    if args.text == "-":
        searcher.warm_up()
        return run_batch(out, one)
    result = one({"text": args.text})
    if out:
        out.emit(result)
    else:
        scope = "in the handbook" if result["in_scope"] else "probably NOT covered by the handbook"
        print(f"{result['query']!r}: {scope}")
        for h in result["hits"]:
            print(f"{h['rank']:>2}. [{h['id']}] {h['title']}  (score {h['score']:.3f})")
    return 0


# -- ask ----------------------------------------------------------------------------------


def _history(fields: dict) -> list[dict]:
    history = fields.get("history") or []
    if not isinstance(history, list) or not all(
        isinstance(m, dict) and isinstance(m.get("content", ""), str) for m in history
    ):
        raise BadInput('"history" must be a list of {"role": ..., "content": ...} messages.')
    return history


def cmd_ask(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach.answer import Asker

    asker = Asker(load_config())

    def one(fields: dict) -> dict:
        return asker.ask(require_text(fields), _history(fields)).to_json()

    if args.text == "-":
        asker.warm_up()
        return run_batch(out, one)
    if out:
        out.emit(one({"text": args.text}))
        return 0
    shown: list[str] = []

    def show(piece: str) -> None:
        shown.append(piece)
        print(piece, end="", flush=True)

    result = asker.ask(args.text, on_token=show)
    if not shown or not result.answer.startswith(result.streamed):
        if shown:
            print("\n\n[after checking the answer against its sources:]")
        print(result.answer)
    else:
        print(result.answer[len(result.streamed) :])
    if result.sources and not result.refused:
        print("\nSources: " + ", ".join(f"[{s.id}] {s.title}" for s in result.sources))
    notes = [f for f in result.flags if f not in ("out_of_scope",)]
    if notes:
        print(f"Flags: {', '.join(notes)}")
    return 0


# -- guard --------------------------------------------------------------------------------


def cmd_guard(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach import guardrails

    guards = guardrails.real_guards()

    def one(fields: dict) -> dict:
        text = require_text(fields)
        return guardrails.check_input(text, context="ask", guards=guards).to_json()

    if args.text == "-":
        return run_batch(out, one)
    result = one({"text": args.text})
    if out:
        out.emit(result)
    else:
        print("allowed" if result["allowed"] else "BLOCKED")
        for f in result["flags"]:
            print(f"  {f['name']}: score {f['score']:.2f} -> {f['action']}")
    return 0


# -- eval ---------------------------------------------------------------------------------

_SUITES_BUILT = {
    "retrieval": "coach.evals.retrieval",
    "answer": "coach.evals.answer",
    "guardrails": "coach.evals.guardrails",
}


def cmd_eval(args: argparse.Namespace, out: JsonOut | None) -> int:
    import importlib

    cfg = load_config()
    suites = list(_SUITES_BUILT) if args.suite == "all" else [args.suite]
    for suite in suites:
        if suite not in _SUITES_BUILT:
            raise NotBuilt(f"eval --suite {suite}")
    for suite in suites:
        module = importlib.import_module(_SUITES_BUILT[suite])
        result = module.run(cfg, split=args.split, limit=args.limit, progress=say)
        if out:
            out.emit(result)
        else:
            print(json.dumps(result, indent=2))
    return 0


# -- not built yet ------------------------------------------------------------------------


def _not_built(name: str):
    def handler(args: argparse.Namespace, out: JsonOut | None) -> int:
        raise NotBuilt(name)

    return handler


cmd_grade = _not_built("grade")
cmd_judge = _not_built("judge")
cmd_interview = _not_built("interview")
cmd_progress = _not_built("progress")


def cmd_serve(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach import ui

    ui.serve(load_config(), host=args.host, port=args.port)
    return 0
