"""Shared fixtures. Every test runs with a temporary COACH_HOME (never the user's) and a
temporary index dir; tests that need the real models get the verified model files linked in
from where `scripts/setup.sh` assembled them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from coach.config import _default_home

REPO = Path(__file__).resolve().parent.parent


def setup_models_dir(env=os.environ) -> Path:
    """Where `scripts/setup.sh` assembled the models: `$COACH_HOME/models` when COACH_HOME is
    set, else the default data dir's; COACH_TEST_MODELS_DIR overrides both.

    Read when this module is imported, before the autouse `coach_home` fixture replaces
    COACH_HOME with a temporary directory.
    """
    if env.get("COACH_TEST_MODELS_DIR"):
        return Path(env["COACH_TEST_MODELS_DIR"]).expanduser()
    if env.get("COACH_HOME"):
        return Path(env["COACH_HOME"]).expanduser() / "models"
    return _default_home() / "models"


SETUP_MODELS = setup_models_dir()


def hash_searcher(cfg):
    """A real Searcher over hash vectors (no model), for tests of the code around search.

    The scope score is a logit (coach/search/scope.py). With hash vectors handbook-like questions
    score about -4..0 and gibberish below -20, so the scope threshold is -10.
    """
    from coach.search import HashEmbedder, Searcher

    return Searcher(cfg, embedder=HashEmbedder(dim=4096), use_reranker=False, scope_threshold=-10.0)


@pytest.fixture(autouse=True)
def coach_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("coach-home")
    monkeypatch.setenv("COACH_HOME", str(home))
    monkeypatch.setenv("COACH_INDEX_DIR", str(home / "index"))
    monkeypatch.delenv("COACH_CONFIG", raising=False)
    monkeypatch.delenv("COACH_ENDPOINT", raising=False)
    monkeypatch.delenv("COACH_MODEL", raising=False)
    return home


@pytest.fixture
def real_models(coach_home: Path) -> Path:
    """Link the assembled model files into the temporary home (read-only use)."""
    if not any(SETUP_MODELS.glob("*.gguf")):
        pytest.fail(f"No assembled models in {SETUP_MODELS}: run ./scripts/setup.sh first")
    (coach_home / "models").symlink_to(SETUP_MODELS, target_is_directory=True)
    return coach_home / "models"


@pytest.fixture(scope="session")
def shared_index_dir(tmp_path_factory) -> Path:
    """One real index (MiniLM) for the whole session: building it takes ~10 s."""
    from coach.config import load_config
    from coach.search import ensure_index

    path = tmp_path_factory.mktemp("real-index")
    ensure_index(load_config(index_dir=path))
    return path


def run_cli(*args: str, stdin: bytes | None = None, env: dict | None = None, timeout=300):
    """Run the real `coach` entry point in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "coach.cli.parser", *args],
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=timeout,
        cwd=REPO,
    )


@pytest.fixture
def fresh_collection_caches():
    """Each test starts like a new process: no collection index loaded or joined yet."""
    from coach.search import collections as cs

    cs._LOADED.clear()
    cs._SEARCHERS.clear()
    yield
    cs._LOADED.clear()
    cs._SEARCHERS.clear()
