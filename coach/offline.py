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


def enforce() -> None:
    """Force the offline variables; there is no network at run time, so no opt-out."""
    os.environ.update(OFFLINE_ENV)
