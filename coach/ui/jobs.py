"""Background jobs in the server process: one at a time, in a thread, progress captured.

The state lives here, not in a browser session, so a page that reloads (or a second browser)
sees the job that is running or the last one that finished. Pages poll `snapshot()`; `version`
changes whenever there is something new to show, so a poll can skip redrawing.
Leaves out: what a job does (the Evals tab passes the work) and how it is shown.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from coach.errors import CoachError
from coach.ui import faults

_FRACTION = re.compile(r"(\d+)\s*/\s*(\d+)")
KEEP_MESSAGES = 50  # enough to read back what a job did, bounded for long runs


def fraction(message: str) -> float | None:
    """How far along a progress message says the work is ("asked 2/3" -> 0.667).

    >>> fraction("  answer eval: asked 2/3"), fraction("red-team dev split"), fraction("0/0")
    (0.667, None, None)
    """
    m = _FRACTION.search(message)
    if not m or int(m[2]) == 0:
        return None
    return round(min(1.0, int(m[1]) / int(m[2])), 3)


@dataclass(frozen=True)
class Job:
    """One job as the pages see it (a snapshot; the manager replaces it as the job moves)."""

    id: int
    name: str
    params: dict
    status: str  # "running", "done" or "failed"
    started: float
    finished: float | None = None
    messages: tuple[str, ...] = ()
    fraction: float | None = None
    result: dict | None = None
    error: str | None = None
    version: int = 0

    @property
    def seconds(self) -> float:
        return (self.finished or time.time()) - self.started


class Busy(CoachError):
    code = "busy"


class JobManager:
    def __init__(self, logs_dir: Path):
        self.logs_dir = logs_dir  # where unexpected failures are logged
        self._job: Job | None = None
        self._lock = threading.Lock()
        self._ids = 0
        self._version = 0

    def snapshot(self) -> Job | None:
        with self._lock:
            return self._job

    @property
    def running(self) -> bool:
        job = self.snapshot()
        return job is not None and job.status == "running"

    def start(self, name: str, params: dict, work: Callable[[Callable[[str], None]], dict]) -> Job:
        """Run `work(progress)` in a thread; refuse while another job runs."""
        with self._lock:
            if self._job is not None and self._job.status == "running":
                raise Busy(f"{self._job.name} is still running; wait for it to finish.")
            self._ids += 1
            job = self._set(Job(self._ids, name, dict(params), "running", time.time()))
        threading.Thread(
            target=self._run, args=(job.id, work), name=f"coach-job-{job.id}", daemon=True
        ).start()
        return job

    def _set(self, job: Job) -> Job:
        """Store a new snapshot with a fresh version (the caller holds the lock)."""
        self._version += 1
        self._job = replace(job, version=self._version)
        return self._job

    def _update(self, job_id: int, **changes) -> None:
        with self._lock:
            if self._job is not None and self._job.id == job_id:
                self._set(replace(self._job, **changes))

    def _run(self, job_id: int, work: Callable) -> None:
        def progress(message: str) -> None:
            message = message.strip()
            with self._lock:
                job = self._job
                if job is None or job.id != job_id:
                    return
                done = fraction(message)
                self._set(
                    replace(
                        job,
                        messages=(*job.messages, message)[-KEEP_MESSAGES:],
                        fraction=job.fraction if done is None else done,
                    )
                )

        try:
            result = work(progress)
        except BaseException as exc:  # a job's failure is shown on the page, never lost
            message = faults.describe(exc, self.logs_dir)
            self._update(job_id, status="failed", error=message, finished=time.time())
            return
        self._update(job_id, status="done", result=result, fraction=1.0, finished=time.time())
