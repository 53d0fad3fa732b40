"""Progress on a terminal: the embedding lines of `coach add` / `coach index --collection`
("    embedded 256/457 chunks (23.9 chunks/s)") drawn as one updating bar with the share done,
the rate and the time left, when stderr is a terminal; other lines, and every line when stderr
is a pipe or a file, are printed as they are (logs stay greppable)."""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 28


def bar(done: int, total: int, rate: float) -> str:
    """One bar line.

    >>> bar(256, 457, 23.9)
    '[###############.............]  56%  256/457 chunks  23.9 chunks/s  ~8 s left'
    """
    share = done / total if total else 1.0
    filled = round(WIDTH * share)
    line = f"[{'#' * filled}{'.' * (WIDTH - filled)}] {share:4.0%}  {done}/{total} chunks  "
    line += f"{rate:.1f} chunks/s"
    if done >= total:
        return line + "  done"
    if rate <= 0:  # no rate yet: no made-up time left
        return line
    left = (total - done) / rate
    return line + (f"  ~{left / 60:.0f} min left" if left >= 90 else f"  ~{left:.0f} s left")


class ProgressPrinter:
    """A progress callback: `printer(line)`."""

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream  # None: sys.stderr as it is at each call (tests swap it)
        self.open_bar = False

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def __call__(self, msg: str) -> None:
        # Imported here: the CLI's start-up stays free of numpy until something is embedded.
        from coach.search.collections import embedding_progress

        progress = embedding_progress(msg)
        if progress and self.stream.isatty():
            done, total, rate = progress
            end = "\n" if done >= total else ""
            print(f"\r    {bar(done, total, rate)}", end=end, file=self.stream, flush=True)
            self.open_bar = done < total
            return
        if self.open_bar:  # another message mid-bar starts on its own line
            print(file=self.stream)
            self.open_bar = False
        print(msg, file=self.stream, flush=True)
