"""Offline operation: set the environment variables DESIGN.md lists before libraries load.

Called from `coach/__init__.py`, so importing any part of the coach is enough. Values a user
set explicitly are kept, except the ones that would let a library reach the network.
"""

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "RAGAS_DO_NOT_TRACK": "true",
    "GRADIO_ANALYTICS_ENABLED": "False",
    # Not in DESIGN.md's list but same purpose: no telemetry from the libraries we use.
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


# One BLAS thread unless the user says otherwise. Our numpy work is small (a query against a
# few thousand vectors), and OpenBLAS's idle threads spin for a while after each product: on 2
# cores they starved the next query's MiniLM embedding (torch), so hybrid search at 20,000
# chunks took p95 108 ms with two BLAS threads and 17 ms with one (scripts/bench_collections.py).
THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1"}


def enforce() -> None:
    """Force the offline variables; there is no network at run time, so no opt-out. Thread
    settings only fill in what the user left unset, and only act before numpy loads."""
    os.environ.update(OFFLINE_ENV)
    for name, value in THREAD_ENV.items():
        os.environ.setdefault(name, value)
