"""Failures inside a UI handler become one readable sentence, never a stack trace.

A `CoachError` already says what to fix, so its message is shown as is. Anything else is a bug:
its traceback goes to stderr and to `COACH_HOME/logs/ui-errors.log`, and the person sees a short
note pointing there.
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

from coach.errors import CoachError

LOG_NAME = "ui-errors.log"


def describe(exc: BaseException, logs_dir: Path) -> str:
    """The message to show for `exc` (logging the traceback of unexpected ones)."""
    if isinstance(exc, CoachError):
        return exc.message
    trace = "".join(traceback.format_exception(exc))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"[coach ui] {stamp} unexpected error:\n{trace}", file=sys.stderr, flush=True)
    path = logs_dir / LOG_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(f"--- {stamp}\n{trace}\n")
    except OSError:
        path = Path("stderr")  # the traceback is on stderr either way
    return f"Something went wrong inside the coach ({type(exc).__name__}); details are in {path}."
