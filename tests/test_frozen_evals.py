"""Frozen eval files keep the hash they were frozen with (evals/FROZEN.json): a test split is never
edited after tuning started; a label fix is a new, versioned entry (scripts/freeze_eval.py
--refreeze REASON)."""

import hashlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FROZEN = json.loads((ROOT / "evals" / "FROZEN.json").read_text())


@pytest.mark.parametrize("rel", sorted(FROZEN))
def test_frozen_file_is_unchanged(rel):
    path = ROOT / rel
    assert path.is_file(), f"{rel} is frozen but missing"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == FROZEN[rel]["sha256"], (
        f"{rel} changed after it was frozen; refreeze with a reason (scripts/freeze_eval.py)"
    )


def test_every_eval_dataset_is_frozen():
    datasets = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "evals").rglob("*.jsonl")
        if not p.name.startswith("report")
    }
    assert datasets <= set(FROZEN), f"not frozen: {sorted(datasets - set(FROZEN))}"
