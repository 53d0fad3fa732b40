"""The CLI's input/output discipline, kept apart from argument parsing.

- With `--json` or batch mode, stdout carries only JSON: file descriptor 1 is pointed at stderr
  for the duration of the command (so even C libraries that print cannot pollute it) and JSON
  goes to a private duplicate of the original stdout.
- Batch mode (`-`): one item per stdin line, one JSON object per item, flushed line by line;
  a failed item becomes `{"input_index": i, "error": {...}}` and the batch goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from coach.errors import BadInput, CoachError


@dataclass(frozen=True)
class BatchItem:
    """One stdin line: `fields` is the parsed JSON object, or {"text": line} for raw text."""

    index: int
    fields: dict
    error: CoachError | None = None


def parse_batch_line(index: int, raw: bytes) -> BatchItem:
    """Turn one stdin line into an item.

    >>> parse_batch_line(0, b'{"text": "hi"}\\n').fields
    {'text': 'hi'}
    >>> parse_batch_line(1, b"what is RAG?\\n").fields
    {'text': 'what is RAG?'}
    >>> parse_batch_line(2, b"  \\n").error.code
    'empty'
    """
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BatchItem(
            index, {}, BadInput(f"Line {index + 1} is not valid UTF-8 ({exc.reason}).")
        )
    line = line.rstrip("\r\n")
    if not line.strip():
        return BatchItem(index, {}, BadInput("Empty input line.", code="empty"))
    if line.lstrip().startswith("{"):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            return BatchItem(index, obj)
    return BatchItem(index, {"text": line})


def iter_stdin_items(stream: IO[bytes] | None = None) -> Iterator[BatchItem]:
    stream = stream if stream is not None else sys.stdin.buffer
    for index, raw in enumerate(stream):
        yield parse_batch_line(index, raw)


def error_object(exc: CoachError, index: int | None = None) -> dict:
    obj: dict[str, Any] = {"error": {"code": exc.code, "message": exc.message}}
    if index is not None:
        obj = {"input_index": index, **obj}
    return obj


class JsonOut:
    """Writes one JSON object per line to the real stdout, flushing each."""

    def __init__(self, stream: IO[str]):
        self.stream = stream

    def emit(self, obj: dict) -> None:
        self.stream.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self.stream.flush()


@contextlib.contextmanager
def json_stdout() -> Iterator[JsonOut]:
    """Yield a writer to the real stdout while fd 1 and sys.stdout point at stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    real = os.fdopen(saved, "w", encoding="utf-8", closefd=True)
    old_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield JsonOut(real)
    finally:
        sys.stdout = old_stdout
        real.flush()
        os.dup2(real.fileno(), 1)
        real.close()


def run_batch(out: JsonOut, handle: Callable[[dict], dict], stream: IO[bytes] | None = None) -> int:
    """Run `handle` on every stdin item; per-item failures become error objects."""
    for item in iter_stdin_items(stream):
        if item.error is not None:
            out.emit(error_object(item.error, item.index))
            continue
        try:
            out.emit(handle(item.fields))
        except CoachError as exc:
            if exc.exit_code == 3:  # setup problems affect every item: stop the batch
                raise
            out.emit(error_object(exc, item.index))
        except Exception as exc:  # noqa: BLE001 - one bad item must not end the batch
            out.emit(error_object(CoachError(f"Internal error: {exc!r}"), item.index))
    return 0


def require_text(fields: dict, name: str = "text") -> str:
    value = fields.get(name)
    if not isinstance(value, str):
        raise BadInput(f'Each JSON line needs a string "{name}" field.')
    return value
