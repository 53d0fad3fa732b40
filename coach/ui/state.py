"""What every browser session of one server shares.

One in-process model serves everyone, so the configuration in force, the Asker and the Grader
built on it, the progress store, the handbook and the background job live here, once per
server. Switching the model changes them for every session's next turn; turns already running
finish on the model they started with. Per-session things (a conversation, the interview in
progress) live in `gr.State` in the tab modules instead.
Leaves out: gradio (this module imports none of it).
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coach.ask import Asker
from coach.ask.collection_answer import CollectionAsker
from coach.config import Config
from coach.handbook import Handbook, load_handbook
from coach.interview import Grader, ProgressStore, reset_database
from coach.ui import faults
from coach.ui.jobs import JobManager


class ServerState:
    def __init__(self, cfg: Config, asker: Asker | None = None, grader: Grader | None = None):
        self._cfg = cfg
        self._asker = asker
        self._grader = grader
        self._store: ProgressStore | None = None
        self._lock = threading.Lock()
        self._store_lock = threading.Lock()
        self._warming: threading.Thread | None = None
        self.book: Handbook = load_handbook()
        self.known_ids = frozenset(
            [q.id for q in self.book.questions] + [p.id for p in self.book.parts]
        )
        self.jobs = JobManager(cfg.logs_dir)

    @property
    def cfg(self) -> Config:
        return self._cfg

    def asker(self) -> Asker:
        """The server's Asker; waits for a warm-up in progress so models never load twice."""
        warming = self._warming
        if warming is not None and warming is not threading.current_thread():
            warming.join()
        with self._lock:
            if self._asker is None:
                self._asker = Asker(self._cfg)
            return self._asker

    def collection_asker(self, name: str) -> CollectionAsker:
        """An asker over one of the user's collections, sharing the server's guards (built
        per question: cheap, and a re-added collection is always searched as it is now)."""
        return CollectionAsker(self._cfg, [name], guards=getattr(self.asker(), "guards", None))

    def grader(self) -> Grader:
        """The server's Grader, on the model in force. Built lazily (its models load on first
        grade) and rebuilt after a model switch, keeping the loaded embedder and guards."""
        with self._lock:
            old = self._grader
            if old is None:
                self._grader = Grader(self._cfg)
            elif old.cfg.model != self._cfg.model:
                self._grader = Grader(self._cfg, embedder=old.embedder, guards=old.guards)
            return self._grader

    def progress(self) -> ProgressStore:
        """The server's progress store, opened on first use. A damaged file raises its
        ProgressError every time until it is reset, so each page can say so."""
        with self._store_lock:
            if self._store is None:
                self._store = ProgressStore(self._cfg.progress_db)
            return self._store

    def reset_progress(self) -> Path | None:
        """Move the progress database aside (its backup path, or None if there was none) and
        start a fresh one. Works when the file is damaged and the store never opened."""
        with self._store_lock:
            if self._store is not None:
                # Swaps the connection under the store's own lock: pages holding the store
                # keep working, on the fresh file.
                return self._store.reset()
            backup = reset_database(self._cfg.progress_db)
            self._store = ProgressStore(self._cfg.progress_db)
            return backup

    def switch_model(self, model: str) -> Config:
        """Use `model` for every later turn, keeping the loaded index, embedder and guards."""
        with self._lock:
            cfg = self._cfg.replace(model=model)
            old = self._asker
            if old is not None:
                self._asker = Asker(
                    cfg,
                    searcher=old.searcher,
                    guards=old.guards,
                    support=old.support,
                    turn_log=old.turn_log,
                )
            self._cfg = cfg
        print(f"[coach ui] model switched to {model} for the whole server", file=sys.stderr)
        return cfg

    @property
    def warming(self) -> bool:
        """True while the background warm-up still loads the index, guards and model."""
        return self._warming is not None and self._warming.is_alive()

    def warming_line(self) -> str:
        """The page-wide line during warm-up ("" once ready)."""
        if not self.warming:
            return ""
        return (
            "**Warming up:** loading the search index, the guardrails and the model on this "
            "server. The first answer waits for it; later ones don't."
        )

    def warm_up_in_background(self) -> None:
        """Load index, guards and model while the page opens, so the first answer is quicker.

        A failure is only logged here: the first question reports it properly.
        """

        def run() -> None:
            try:
                self.asker().warm_up()
            except Exception as exc:  # the first question reports it again, to the person
                message = faults.describe(exc, self._cfg.logs_dir)
                print(f"[coach ui] warm-up: {message}", file=sys.stderr, flush=True)

        self._warming = threading.Thread(target=run, name="coach-warm-up", daemon=True)
        self._warming.start()


@dataclass(frozen=True)
class UiContext:
    """Handed to each tab's `build(ctx)`: the shared state and the page-level components."""

    state: ServerState
    blocks: Any  # the gr.Blocks being built, for page-load events
    banner: Any  # a gr.Markdown above the tabs: what the server is busy with
    practise: Any = None  # a hidden gr.Textbox: Ask writes a question id, Mock interview starts it
    tabs: Any = None  # the gr.Tabs, so one tab can switch to another
