"""Helper process for the kill test in test_progress.py: record attempts until killed.

Usage: python tests/progress_writer.py DB_PATH. Each attempt id is printed (and flushed) only
after `record_attempt` has returned, i.e. after its transaction committed, so every printed id
must survive a SIGKILL at any moment.
"""

from __future__ import annotations

import sys

from coach.interview import ProgressStore


def main(path: str) -> None:
    store = ProgressStore(path)
    i = 0
    while True:
        grade = {"score": i % 11, "feedback": f"attempt {i}"}
        attempt_id = store.record_attempt(f"Q{i % 50 + 1:02d}", "graded", f"answer {i}", grade)
        print(attempt_id, flush=True)
        i += 1


if __name__ == "__main__":
    main(sys.argv[1])
