"""The `coach` command line: parses arguments and calls the library.

Exit codes (DESIGN.md): 0 success (refusals and per-item batch errors included), 2 usage,
3 setup missing or broken, 4 bad input, 1 internal error. Command bodies live in
`coach/cli/commands.py`; this module only wires argparse to them and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import sys
import traceback

import coach
from coach.cli import commands
from coach.cli.jsonio import error_object, json_stdout
from coach.errors import CoachError
from coach.evals import SUITES

_SUITES = (*SUITES, "all")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="coach",
        description="Interview Coach: offline practice for LLM engineering interviews.",
    )
    p.add_argument("--version", action="version", version=f"coach {coach.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help: str, json_flag: bool = True) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        if json_flag:
            sp.add_argument("--json", action="store_true", help="print JSON on stdout")
        return sp

    sp = add("setup", "assemble the model files and build the index (idempotent)")
    sp.add_argument("--skip-index", action="store_true", help="only assemble the model files")
    sp = add("index", "build the search index (only if stale, unless --rebuild)")
    sp.add_argument("--rebuild", action="store_true", help="rebuild even if up to date")
    sp.add_argument(
        "--collection",
        metavar="NAME",
        help="build the index of one of your collections instead of the handbook's",
    )
    sp.add_argument(
        "--train-reranker",
        action="store_true",
        help="also train the reranker on corpus/reranker_labels.jsonl into corpus/reranker/ "
        "unless the shipped one matches them (~20 min on 2 cores); the evals compare it, search "
        "uses it only when corpus/retrieval_defaults.json turns it on",
    )
    sp = add("search", "search the handbook (or your collections, with --collection)")
    sp.add_argument("text", metavar="TEXT|-")
    sp.add_argument("--k", type=int, default=None, help="number of hits (default 5)")
    _collections_option(
        sp,
        "search this collection instead of the handbook (repeatable: one ranking over "
        "all of them; ids like notes:s12); 'handbook' is the handbook",
    )
    sp = add("ask", "ask a question about the handbook (or your collections, with --collection)")
    sp.add_argument("text", metavar="TEXT|-")
    _collections_option(
        sp,
        "answer from this collection of yours instead of the handbook (repeatable); "
        "the answer quotes its sections, cited like [notes:s12] with file and heading",
    )
    sp = add("grade", "grade an interview answer")
    sp.add_argument("text", metavar="-", nargs="?", help="- to read JSON lines from stdin")
    sp.add_argument("--question", help="question id, e.g. Q21, q21 or 21")
    sp.add_argument("--answer", help="the answer to grade")
    sp.add_argument("--record", action="store_true", help="save the grade to your progress")
    sp = add("guard", "run the input guardrails on a text")
    sp.add_argument("text", metavar="TEXT|-")
    sp = add("eval", "run an eval suite")
    sp.add_argument("--suite", choices=_SUITES, default="retrieval")
    sp.add_argument("--split", choices=("dev", "test"), default="test")
    sp.add_argument("--limit", type=int, default=None, help="stratified sample of N items")
    sp = add("judge", "judge answers' faithfulness to handbook sections (stdin JSON lines)")
    sp.add_argument("text", metavar="-")
    _collections_option(
        sp,
        "judge against this collection's sections: bare ids (s12) are its own, and "
        "sources outside the named collections are refused (repeatable)",
    )
    sp = add("show", "print a handbook section")
    sp.add_argument("ref", metavar="ID", help="Q17, q17, 17 or P3")
    sp = add("add", "add your own files (Markdown, text, HTML, PDF) to a named collection")
    sp.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to add")
    sp.add_argument(
        "--name", help="collection name (default: the first path's name, e.g. ml-notes)"
    )
    add("collections", "list your collections")
    sp = add("remove", "delete one of your collections (your files are not touched)")
    sp.add_argument("name", metavar="NAME")
    sp = add("rubrics", "propose, export or import grading rubrics for one of your collections")
    sp.add_argument("action", choices=("propose", "export", "import"))
    sp.add_argument("name", metavar="NAME", help="the collection")
    sp.add_argument("path", nargs="?", help="import: the file to read (default stdin)")
    sp.add_argument(
        "--section",
        action="append",
        default=[],
        metavar="ID",
        help="propose: only this section (s12; repeatable); default: every section worth a "
        "question",
    )
    sp.add_argument(
        "--model",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="propose: the local model picks and words the points (~10-25 s a section), "
        "instead of the extractive draft (--no-model, the default)",
    )
    sp.add_argument(
        "--replace-reviewed", action="store_true", help="propose: also replace reviewed rubrics"
    )
    sp.add_argument("--out", metavar="FILE", help="export: write here (default stdout)")
    sp = add("interview", "a mock interview in the terminal", json_flag=False)
    sp.add_argument("--part", help="only questions of this part, e.g. P3")
    sp.add_argument("--count", type=int, default=5, help="number of questions (default 5)")
    sp.add_argument(
        "--mode",
        choices=("due", "weakest", "new_first"),
        default="due",
        help="due reviews first (default), weakest first, or unseen questions first",
    )
    sp.add_argument("--resume", action="store_true", help="resume the last unfinished session")
    sp.add_argument(
        "--question",
        action="append",
        default=[],
        metavar="ID",
        help="practise this question (Q21, q21 or 21, or a collection's section such as "
        "pytut:s67); repeat for several",
    )
    sp.add_argument(
        "--collection",
        metavar="NAME",
        help="practise the sections of one of your collections that have rubrics "
        "(coach rubrics propose NAME makes them)",
    )
    sp = add("progress", "export, import or reset your progress", json_flag=False)
    sp.add_argument("action", choices=("export", "import", "reset", "due"))
    sp.add_argument("path", nargs="?", help="file for import/export (default stdout/stdin)")
    sp.add_argument("--format", choices=("json", "csv"), default="json")
    sp.add_argument("--yes", action="store_true", help="reset without asking")
    add("doctor", "check the installation and say what to fix")
    sp = add("serve", "start the web app", json_flag=False)
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=7860)
    return p


def _batch_mode(args: argparse.Namespace) -> bool:
    return getattr(args, "text", None) == "-"


def _collections_option(sp: argparse.ArgumentParser, help: str) -> None:
    """`--collection NAME`, repeatable, into `args.collections` (search, ask, judge)."""
    sp.add_argument("--collection", dest="collections", action="append", metavar="NAME", help=help)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    as_json = bool(getattr(args, "json", False)) or _batch_mode(args)
    handler = getattr(commands, f"cmd_{args.command}")
    if not as_json:
        return _run(handler, args, None)
    with json_stdout() as out:
        return _run(handler, args, out)


def _run(handler, args: argparse.Namespace, out) -> int:
    """Call a command; every failure becomes one stderr line (and a JSON error object)."""
    try:
        return handler(args, out)
    except KeyboardInterrupt:
        print("coach: interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the user sees one line; details go to the log
        if not isinstance(exc, CoachError):
            path = commands.write_crash_log(traceback.format_exc())
            exc = CoachError(f"Internal error ({type(exc).__name__}); details are in {path}")
        if out is not None:
            out.emit(error_object(exc))
        print(f"coach: {exc.message}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
