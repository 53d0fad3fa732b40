"""Command bodies for the CLI: each takes parsed args and a JSON writer (None for text mode).

They call the library and format its results; they never parse argv and never exit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from coach.cli.jsonio import JsonOut, require_text, run_batch
from coach.cli.progress import ProgressPrinter
from coach.config import load_config
from coach.errors import BadInput, SetupError, UsageError


def say(msg: str) -> None:
    """Progress and logs: always stderr, so stdout stays clean for JSON; embedding progress as
    a bar on a terminal (progress.py)."""
    _PROGRESS(msg)


_PROGRESS = ProgressPrinter()


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
    from coach.llm import MODELS, ensure_model

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
    from coach.search import index

    summary = index.ensure_index(cfg, rebuild=rebuild, progress=say).summary()
    if not summary["built"]:
        say(f"==> index: up to date in {summary['index_dir']}")
    return summary


def cmd_index(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach.search import index

    cfg = load_config()
    if getattr(args, "collection", None) not in (None, "handbook"):
        return _index_collection(cfg, args, out)
    result = index.ensure_index(cfg, rebuild=args.rebuild, progress=say)
    summary = result.summary()
    if args.train_reranker:
        from coach.search.training import reranker

        summary["reranker"] = str(reranker.ensure_trained(cfg, result.index, progress=say))
    if out:
        out.emit(summary)
    else:
        state = "built" if summary["built"] else "up to date"
        print(f"Index {state}: {summary['chunks']} chunks in {summary['index_dir']}")
        if args.train_reranker:
            print(f"Reranker: {summary['reranker']}")
    return 0


def _index_collection(cfg, args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach.search import collections

    if args.train_reranker:
        raise UsageError("--train-reranker trains the handbook's reranker; drop --collection.")
    name = collections.check_names(cfg, [args.collection])[0]
    summary = collections.ensure_index(cfg, name, rebuild=args.rebuild, progress=say).summary()
    summary.pop("chunks_per_s")  # the `coach index` contract's shape
    if out:
        out.emit(summary)
    else:
        state = "built" if summary["built"] else "up to date"
        print(f"Index of {name} {state}: {summary['chunks']} chunks in {summary['index_dir']}")
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
    from coach.handbook import load_handbook

    book = load_handbook()
    section = book.section(args.ref)
    if out:
        out.emit(section_json(section))
    else:
        print(section.to_markdown())
    return 0


def section_json(section) -> dict:
    from coach.handbook import Question

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


# -- your own material --------------------------------------------------------------------


def cmd_add(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach import sources
    from coach.guardrails.document_scan import findings

    paths = [Path(p) for p in args.paths]
    if args.name is None:
        name = sources.default_name(paths[0])
    else:
        name = sources.check_name(args.name)
    cfg = load_config()
    summary = sources.add(cfg, name, paths, progress=say).to_json()
    summary.update(_index_after_add(cfg, name))
    summary["flagged"] = [
        {"section": f"{name}:{f.section}", "source": f.source, "heading_path": list(f.heading_path),
         "text": f.text[:300], "start": f.start, "end": f.end, "reason": f.reason}
        for f in findings(cfg, name)
    ]  # fmt: skip
    if out:
        out.emit(summary)
        return 0
    counts = ", ".join(
        f"{len(summary[k])} {k}" for k in ("added", "updated", "skipped", "rejected") if summary[k]
    )
    print(
        f"Collection {name}: {summary['files']} files, {summary['sections']} sections "
        f"({counts or 'nothing new'}; {summary['seconds']:.1f} s)"
    )
    rate = f", {summary['chunks_per_s']:.1f} chunks/s" if summary["chunks_per_s"] else ""
    state = "indexed" if summary["chunks_per_s"] is not None else "index up to date"
    print(f"Search: {summary['chunks']} chunks {state} ({summary['index_seconds']:.1f} s{rate})")
    if summary["replacements"]:
        print(
            f"Note: {summary['replacements']} invalid UTF-8 sequence(s) were replaced by U+FFFD; "
            "save those files as UTF-8 and add them again for exact text."
        )
    if summary["flagged"]:
        print(
            f"Flagged: {len(summary['flagged'])} passage(s) address an AI assistant; they are "
            "treated as data (never followed, never quoted in answers):"
        )
        for f in summary["flagged"][:10]:
            place = " > ".join(f["heading_path"]) or "(no heading)"
            print(f"  [{f['section']}] {f['source']}: {place}: {f['text'][:100]!r}")
        if len(summary["flagged"]) > 10:
            print(f"  ... and {len(summary['flagged']) - 10} more (coach add ... --json lists all)")
    return 0


def _index_after_add(cfg, name: str) -> dict:
    """Index the collection as it is after an add (built only when its sections changed)."""
    from coach.search import collections

    build = collections.ensure_index(cfg, name, progress=say)
    return {
        "chunks": len(build.index.chunks),
        "chunks_per_s": build.chunks_per_s,
        "index_seconds": round(build.seconds, 3),
    }


def cmd_collections(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach import sources
    from coach.guardrails.document_scan import flagged_sections
    from coach.search.collections import index_chunks

    cfg = load_config()
    rows = [
        {
            **c.summary(),
            "chunks": index_chunks(cfg, c),
            "flagged": len(flagged_sections(cfg, c.name)),
        }
        for c in sources.list_collections(cfg)
    ]
    if out:
        out.emit({"collections": rows})
    elif not rows:
        print("No collections yet. Add one with: coach add PATH... --name NAME")
    else:
        width = max(len("name"), *(len(r["name"]) for r in rows))
        head = f"{'name':<{width}}  {'files':>5}  {'sections':>8}  {'chunks':>6}  {'flagged':>7}"
        print(f"{head}  built at")
        for r in rows:
            chunks = "-" if r["chunks"] is None else r["chunks"]
            print(
                f"{r['name']:<{width}}  {r['files']:>5}  {r['sections']:>8}  {chunks:>6}  "
                f"{r['flagged']:>7}  {r['built_at']}"
            )
    return 0


def cmd_remove(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach import sources
    from coach.search.collections import forget

    cfg = load_config()
    sources.remove(cfg, args.name)  # its search index lives in its directory and goes with it
    forget(cfg, args.name)
    if out:
        out.emit({"name": args.name, "removed": True})
    else:
        print(f"Removed the collection {args.name} (your files are untouched).")
    return 0


def cmd_rubrics(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach.interview import section_rubrics
    from coach.llm import get_generator

    cfg = load_config()
    if args.action == "propose":
        generator = get_generator(cfg) if args.model else None
        result = section_rubrics.propose(
            cfg, args.name, args.section, generator, args.replace_reviewed, progress=say
        )
    elif args.action == "export":
        document = section_rubrics.export(cfg, args.name)
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if not args.out:
            print(text, end="")
            return 0
        _write_atomic(Path(args.out), text)
        result = {"collection": args.name, "exported": len(document["rubrics"]), "out": args.out}
    else:
        raw = Path(args.path).read_bytes() if args.path else sys.stdin.buffer.read()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadInput(f"The rubrics file is not UTF-8 JSON ({exc}).") from None
        result = section_rubrics.import_rubrics(cfg, args.name, data)
    if out:
        out.emit(result)
    elif args.action == "propose":
        print(
            f"Collection {args.name}: {result['proposed']} rubric(s) proposed, "
            f"{result['kept_reviewed']} reviewed kept, {len(result['skipped'])} section(s) "
            f"skipped; {result['rubrics']} in all. Review them in the app (My material) or "
            f"with coach rubrics export/import {args.name}."
        )
    elif args.action == "export":
        print(f"Wrote {result['exported']} rubric(s) of {args.name} to {args.out}.")
    else:
        print(f"Imported {result['imported']} reviewed rubric(s) into {args.name}.")
    return 0


# -- search -------------------------------------------------------------------------------


def cmd_search(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach.search import searcher as retrieve

    cfg = load_config()
    k = args.k if args.k is not None else cfg.k_search
    if k < 1 or k > 59:
        raise UsageError("--k must be between 1 and 59.")
    names = list(dict.fromkeys(getattr(args, "collections", None) or ["handbook"]))
    if names != ["handbook"]:
        return _search_collections(cfg, names, k, args, out)
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


def _search_collections(cfg, names: list[str], k: int, args, out: JsonOut | None) -> int:
    from coach.search import collections, mixed

    if "handbook" in names:  # one ranking over the handbook and the collections
        collections.check_names(cfg, [n for n in names if n != "handbook"])
        searcher = mixed.MixedSearcher(cfg, names, progress=say)
    else:
        searcher = collections.get_collection_searcher(cfg, names, progress=say)

    def one(fields: dict) -> dict:
        return searcher.search(_check_text(require_text(fields)), k=k).to_json()

    if args.text == "-":
        return run_batch(out, one)
    result = one({"text": args.text})
    if out:
        out.emit(result)
        return 0
    where = ", ".join(names)
    scope = f"in {where}" if result["in_scope"] else f"probably NOT covered by {where}"
    print(f"{result['query']!r}: {scope}")
    for h in result["hits"]:
        print(f"{h['rank']:>2}. [{h['id']}] {h['title']}  (score {h['score']:.3f})")
        if "source" in h:  # a collection's hit: where it is (handbook hits are `coach show`n)
            place = " > ".join(h["heading_path"]) or h["title"]
            print(f"    {h['source']}: {place}")
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
    from coach.ask import Asker

    names = list(dict.fromkeys(getattr(args, "collections", None) or ["handbook"]))
    if names != ["handbook"]:
        return _ask_collections(load_config(), names, args, out)
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
    if result.practise:
        print(f"Practise it: coach interview --question {result.practise}")
    notes = [f for f in result.flags if f not in ("out_of_scope",)]
    if notes:
        print(f"Flags: {', '.join(notes)}")
    return 0


def _ask_collections(cfg, names: list[str], args, out: JsonOut | None) -> int:
    from coach.ask.collection_answer import CollectionAsker
    from coach.search import collections

    if "handbook" in names:
        raise UsageError(
            "Ask answers from the handbook or from your collections, not both at once: drop "
            "--collection handbook, or ask without --collection for the handbook."
        )
    asker = CollectionAsker(cfg, collections.check_names(cfg, names), progress=say)

    def one(fields: dict) -> dict:
        return asker.ask(require_text(fields)).to_json()

    if args.text == "-":
        return run_batch(out, one)
    if out:
        out.emit(one({"text": args.text}))
        return 0
    result = asker.ask(args.text)
    print(result.answer)
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


# -- grade ------------------------------------------------------------------------------


def cmd_grade(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach.interview import Grader

    cfg = load_config()
    if args.text not in (None, "-"):
        raise UsageError("Use --question Q21 --answer TEXT, or - to read JSON lines from stdin.")
    if args.text is None and (args.question is None or args.answer is None):
        raise UsageError("coach grade needs --question and --answer (or - for a batch).")
    grader = Grader(cfg)
    store = _progress_store(cfg) if args.record else None

    def one(fields: dict) -> dict:
        question = fields.get("question")
        answer = fields.get("answer")
        if not isinstance(question, str) or not isinstance(answer, str):
            raise BadInput('Each line needs {"question": "Q21", "answer": "..."}.')
        grade = grader.grade(question, answer)
        if store is not None:
            store.record_attempt(grade.question, "graded", answer, grade.to_json())
        return grade.to_json()

    if args.text == "-":
        grader.warm_up()
        return run_batch(out, one)
    result = one({"question": args.question, "answer": args.answer})
    if out:
        out.emit(result)
    else:
        print(format_grade(result))
        if store is not None:
            print("(saved to your progress)")
    return 0


def format_grade(grade: dict) -> str:
    """A grade as terminal text (the interview shows the same)."""
    marks = {"covered": "[x]", "partial": "[~]", "missed": "[ ]"}
    lines = [f"Score: {grade['score']:.1f}/10 for {grade['question']}"]
    for p in grade["points"]:
        evidence = f'  <- "{p["evidence"]}"' if p["evidence"] else ""
        lines.append(f"  {marks[p['verdict']]} {p['point']}{evidence}")
    lines += [f"  ! {e}" for e in grade["errors"]]
    lines += ["", grade["feedback"], "", f"Follow-up: {grade['follow_up']}"]
    if grade["flags"]:
        lines.append(f"Flags: {', '.join(grade['flags'])}")
    return "\n".join(lines)


def _progress_store(cfg):
    from coach.interview import ProgressStore

    return ProgressStore(cfg.progress_db)


# -- judge ------------------------------------------------------------------------------


def cmd_judge(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach.ask import Judge

    if args.text != "-":
        raise UsageError("coach judge reads JSON lines from stdin: coach judge -")
    cfg = load_config()
    names = list(dict.fromkeys(getattr(args, "collections", None) or []))
    if names:
        from coach.search.collections import check_names

        check_names(cfg, [n for n in names if n != "handbook"])
    judge = Judge(cfg)

    def one(fields: dict) -> dict:
        answer, sources = fields.get("answer"), fields.get("sources")
        if not isinstance(answer, str) or not isinstance(sources, list) or not sources:
            raise BadInput('Each line needs {"question", "answer", "sources": ["Q17", ...]}.')
        if not all(isinstance(s, str) for s in sources):
            raise BadInput('"sources" must be section ids like "Q17" or "notes:s12".')
        if names:  # --collection: bare ids are that collection's, and only those are allowed
            sources = [s if ":" in s else f"{names[0]}:{s}" for s in sources]
            outside = [s for s in sources if s.split(":", 1)[0] not in names]
            if outside:
                raise BadInput(f"Sources outside --collection {', '.join(names)}: {outside}.")
        return judge.judge(answer, sources).to_json()

    judge.warm_up()
    return run_batch(out, one)


# -- interview and progress ---------------------------------------------------------------

INTERVIEW_HELP = (
    "Type your answer; finish with an empty line. Commands: :skip (I don't know), "
    ":reveal (show the handbook answer), :next (skip the follow-up), :quit (resume later)."
)


def _read_answer(prompt: str) -> str | None:
    """A multi-line answer ending with an empty line; None at end of input."""
    lines: list[str] = []
    while True:
        try:
            line = input(prompt if not lines else "")
        except EOFError:
            return "\n".join(lines) if lines else None
        if not line.strip():
            if lines:
                return "\n".join(lines)
            continue
        lines.append(line)
        if line.strip().startswith(":"):
            return line.strip()


def cmd_interview(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach.interview import Grader, InterviewSession

    cfg = load_config()
    store = _progress_store(cfg)
    grader = Grader(cfg)
    session = InterviewSession.resume(store, grader) if args.resume and not args.question else None
    if args.resume and session is None:
        print("No unfinished interview to resume; starting a new one.")
    if session is None:
        session = InterviewSession.start(
            store,
            grader,
            part=args.part,
            count=args.count,
            mode=args.mode,
            questions=[
                f"{args.collection}:{q}" if args.collection and ":" not in q else q
                for q in args.question
            ],
            collection=args.collection,
        )
    due = store.due(dt.datetime.now(dt.UTC))
    print(f"Mock interview: {len(session.plan)} questions. {len(due)} reviews due overall.")
    print(INTERVIEW_HELP)
    while not session.done:
        question = session.current()
        if session.pending_follow_up:
            print(f"\nFollow-up: {session.pending_follow_up[1]}")
        else:
            print(f"\n{session.progress_label()} · [{question.id}] {question.question}")
        text = _read_answer("> ")
        if text is None or text == ":quit":
            print("Paused. Resume with: coach interview --resume")
            return 0
        try:
            if text == ":skip":
                step = session.skip()
            elif text == ":reveal":
                step = session.reveal()
            elif text == ":next":
                step = session.next()
            else:
                say("grading...")
                step = session.answer(text)
        except BadInput as exc:
            print(f"coach: {exc.message}")
            continue
        if step.grade is not None:
            print(format_grade(step.grade.to_json()))
        if step.model_answer:
            whose = (
                "The answer in your material" if ":" in step.question else "The handbook's answer"
            )
            print(f"\n{whose}:\n{step.model_answer}")
    summary = session.summary()
    print("\nSession summary")
    print(f"  mean score: {summary['mean_score']}  by part: {summary['by_part']}")
    for label in ("strongest", "weakest", "read"):
        if summary[label]:
            print(f"  {label}: " + "; ".join(summary[label]))
    return 0


def cmd_progress(args: argparse.Namespace, out: JsonOut | None) -> int:
    cfg = load_config()
    if args.action == "reset":
        return _reset_progress(cfg, args.yes)
    store = _progress_store(cfg)
    if args.action == "export":
        text = store.export(args.format)
        if args.path:
            _write_atomic(Path(args.path), text)
            print(f"Exported your progress to {args.path}")
        else:
            sys.stdout.write(text)
    elif args.action == "import":
        raw = Path(args.path).read_bytes() if args.path else sys.stdin.buffer.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput(
                "The import file is not UTF-8 text; use a coach progress export."
            ) from None
        counts = store.import_json(text)
        print(f"Imported: {json.dumps(counts)}")
    elif args.action == "due":
        due = store.due(dt.datetime.now(dt.UTC))
        if not due:
            print("No reviews due.")
        for state in due:
            print(f"[{state.question}] due {state.due:%Y-%m-%d} (last score {state.last_score})")
    return 0


def _reset_progress(cfg, confirmed: bool) -> int:
    """Works on a damaged database too: the file is moved aside without being opened."""
    from coach.interview import reset_database

    if not confirmed:
        try:
            answer = input("Reset your progress? The database is moved aside as a backup. [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing changed.")
            return 0
    backup = reset_database(cfg.progress_db)
    print(f"Progress reset. Backup: {backup}" if backup else "Progress reset (it was empty).")
    return 0


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# -- eval ---------------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace, out: JsonOut | None) -> int:
    import importlib

    from coach.evals import NOT_IN_ALL, SUITES

    cfg = load_config()
    suites = [s for s in SUITES if s not in NOT_IN_ALL] if args.suite == "all" else [args.suite]
    for suite in suites:
        module = importlib.import_module(SUITES[suite])
        result = module.run(cfg, split=args.split, limit=args.limit, progress=say)
        if out:
            out.emit(result)
        else:
            print(json.dumps(result, indent=2))
    return 0


def cmd_serve(args: argparse.Namespace, out: JsonOut | None) -> int:
    from coach import ui

    ui.serve(load_config(), host=args.host, port=args.port)
    return 0
