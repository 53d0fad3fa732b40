"""Freeze an eval file: record its sha256 in evals/FROZEN.json (a test checks every entry).

    .venv/bin/python scripts/freeze_eval.py evals/retrieval/fresh.jsonl --author "..." --note "..."

An entry is never overwritten silently: refreezing a changed file needs --refreeze and a reason,
which is kept in the entry's history (a label fix is a new, versioned change, said when reported).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "evals" / "FROZEN.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--author", required=True, help="who wrote the file, and what they had seen")
    ap.add_argument("--note", default="", help="what the file is for (held-out, dev/test, ...)")
    ap.add_argument("--refreeze", default=None, help="reason for changing a frozen file")
    args = ap.parse_args(argv)
    data = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    today = dt.date.today().isoformat()
    for path in args.paths:
        rel = str(path.resolve().relative_to(ROOT))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rows = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        old = data.get(rel)
        if old and old["sha256"] != digest and not args.refreeze:
            print(f"{rel} is frozen with another hash; pass --refreeze REASON", file=sys.stderr)
            return 2
        entry = {"sha256": digest, "rows": rows, "frozen": today, "author": args.author}
        if args.note:
            entry["note"] = args.note
        if old:
            entry["history"] = [*old.get("history", []), {k: old[k] for k in ("sha256", "frozen")}]
            if args.refreeze:
                entry["history"][-1]["changed_because"] = args.refreeze
        data[rel] = entry
    MANIFEST.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
