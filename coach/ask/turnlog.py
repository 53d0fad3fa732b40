"""The turn log: one JSON line per Ask turn in `COACH_HOME/logs/turns.jsonl`, PII-scrubbed.

Each record carries what the UI, guardrail reviews and evals need to attach to a turn:
question, rewritten query, retrieved ids, answer, citations, flags, verdicts, timings, tokens.
Appends are single `write` calls on an O_APPEND file, so concurrent writers never interleave
within a line and a killed process leaves at most a truncated last line, which readers skip.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from coach.guardrails import scrub_pii


class TurnLog:
    def __init__(self, path: Path):
        self.path = path

    def record(self, result) -> dict:
        return {
            "turn_id": uuid.uuid4().hex,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "question": scrub_pii(result.question),
            "query": scrub_pii(result.query),
            "retrieved_ids": list(result.retrieved_ids),
            "answer": scrub_pii(result.answer),
            "refused": result.refused,
            "refusal_reason": result.refusal_reason,
            "citations": list(result.citations),
            "flags": list(result.flags),
            "verdicts": list(result.verdicts),
            "timing": result.timing,
            "tokens": result.tokens,
            "scope_score": result.scope_score,
        }

    def append(self, result) -> None:
        line = json.dumps(self.record(result), ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            # Losing a log line must not lose the user's answer; say so on stderr.
            print(f"coach: could not write the turn log {self.path}: {exc}", flush=True)

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a killed process
        return rows
