from pathlib import Path

import pytest

from coach.config import Config, load_config
from coach.errors import SetupError


def test_defaults_come_from_coach_home(coach_home):
    cfg = load_config()
    assert cfg.home == coach_home
    assert cfg.model == "qwen2.5-coder-1.5b"
    assert cfg.backend == "llama_cpp"
    assert cfg.progress_db == coach_home / "progress.sqlite3"
    assert cfg.models_dir == coach_home / "models"


def test_config_file_then_env_then_overrides(coach_home, monkeypatch):
    (coach_home / "config.toml").write_text('model = "qwen2.5-coder-0.5b"\nk_sources = 2\n')
    cfg = load_config()
    assert (cfg.model, cfg.k_sources) == ("qwen2.5-coder-0.5b", 2)
    monkeypatch.setenv("COACH_ENDPOINT", "http://127.0.0.1:9999/v1")
    cfg = load_config()
    assert cfg.backend == "openai" and cfg.endpoint == "http://127.0.0.1:9999/v1"
    assert load_config(model="qwen2.5-coder-1.5b").model == "qwen2.5-coder-1.5b"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('model = "gpt-9"', "Unknown model"),
        ('colour = "blue"', "Unknown setting"),
        ("model = ", "Cannot read the config file"),
        ('backend = "openai"', "needs an endpoint"),
    ],
)
def test_bad_config_file_is_a_clear_setup_error(coach_home, text, fragment):
    (coach_home / "config.toml").write_text(text)
    with pytest.raises(SetupError, match=fragment):
        load_config()


def test_config_is_frozen():
    cfg = Config(home=Path("/tmp/x"))
    with pytest.raises(AttributeError):
        cfg.model = "other"  # type: ignore[misc]
    assert cfg.replace(k_sources=1).k_sources == 1
