"""The real `coach` CLI in a subprocess: exit codes, stdout discipline, JSON schemas."""

import json
from importlib import resources

import jsonschema

from tests.conftest import run_cli


def schema(name: str) -> dict:
    return json.loads(resources.files("coach.cli").joinpath(f"schemas/{name}.json").read_text())


def json_lines(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode().splitlines()]


def test_version_and_help():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.decode().startswith("coach ")
    r = run_cli("--help")
    assert r.returncode == 0
    for command in ("search", "ask", "grade", "guard", "eval", "judge", "show", "doctor"):
        assert command in r.stdout.decode()


def test_usage_error_exits_2():
    assert run_cli("frobnicate").returncode == 2
    assert run_cli("eval", "--suite", "nope").returncode == 2


def test_show_accepts_id_forms():
    outputs = {run_cli("show", ref).stdout for ref in ("Q14", "q14", "14")}
    assert len(outputs) == 1
    text = outputs.pop().decode()
    assert "## Q14" in text and "Positional encodings" in text
    assert "| RoPE | Rotates Q and K vectors by position |" in text  # a restored table row


def test_show_json_and_unknown_id():
    r = run_cli("show", "Q05", "--json")
    obj = json.loads(r.stdout)
    assert obj["tip_label"] == "Key Insight" and obj["id"] == "Q05"
    r = run_cli("show", "Q51", "--json")
    assert r.returncode == 4
    err = json.loads(r.stdout)
    jsonschema.validate(err, schema("error"))
    assert "Q51" in err["error"]["message"]
    r = run_cli("show", "Q51")
    assert r.returncode == 4 and r.stdout == b"" and b"Traceback" not in r.stderr


def test_search_batch_matches_schema_and_keeps_going(shared_index_dir):
    env = {"COACH_INDEX_DIR": str(shared_index_dir)}
    stdin = (
        b'what is top-p sampling\n\n{"text": "LoRA rank"}\n\xff\xfe\n'
        + b"x" * 200_000
        + b"\nhow do I bake bread\n"
    )
    r = run_cli("search", "-", stdin=stdin, env=env)
    assert r.returncode == 0, r.stderr
    rows = json_lines(r.stdout)  # stdout holds nothing but JSON lines
    assert len(rows) == 6
    for i in (0, 2, 5):
        jsonschema.validate(rows[i], schema("search"))
    for i in (1, 3, 4):
        jsonschema.validate(rows[i], schema("error"))
        assert rows[i]["input_index"] == i
    assert rows[0]["hits"][0]["id"] == "Q22"
    assert [h["rank"] for h in rows[0]["hits"]] == [1, 2, 3, 4, 5]
    assert len({h["id"] for h in rows[0]["hits"]}) == 5  # one hit per section
    # "LoRA rank": Q32 (LoRA) or Q36 (overfitting: lower the LoRA rank) both answer it.
    assert "Q32" in [h["id"] for h in rows[2]["hits"][:2]]


def test_index_json_matches_schema(shared_index_dir):
    r = run_cli("index", "--json", env={"COACH_INDEX_DIR": str(shared_index_dir)})
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    jsonschema.validate(obj, schema("index"))
    assert obj["built"] is False and obj["chunks"] > 50


def test_doctor_reports_missing_models_with_the_fix(coach_home):
    r = run_cli("doctor", "--json")
    assert r.returncode == 3
    report = json.loads(r.stdout)
    bad = [c for c in report["checks"] if not c["ok"]]
    assert any("setup.sh" in c["message"] for c in bad)


def test_progress_export_import_reset_and_a_damaged_database(coach_home, tmp_path):
    from coach.config import load_config
    from coach.interview import ProgressStore

    db = load_config().progress_db
    with ProgressStore(db) as store:
        store.record_attempt("Q21", "graded", "mail me at a@b.com", {"score": 6.0})
    r = run_cli("progress", "export")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["attempts"][0]["question"] == "Q21" and "a@b.com" not in r.stdout.decode()
    export = tmp_path / "export.json"
    assert run_cli("progress", "export", str(export)).returncode == 0
    csv_out = run_cli("progress", "export", "--format", "csv")
    assert csv_out.stdout.decode().splitlines()[0].startswith("id,")
    assert run_cli("progress", "reset", stdin=b"n\n").returncode == 0 and db.exists()
    r = run_cli("progress", "reset", "--yes")
    assert r.returncode == 0 and b"Backup:" in r.stdout and not db.exists()
    r = run_cli("progress", "import", str(export))
    assert r.returncode == 0 and b'"attempts": 1' in r.stdout
    r = run_cli("progress", "import", stdin=b"\xff\xfe not json")
    assert r.returncode == 4 and b"Traceback" not in r.stderr

    db.write_bytes(b"garbage" * 1000)  # a damaged file: refused, untouched, fixable
    r = run_cli("progress", "export")
    assert r.returncode == 3 and b"coach progress reset" in r.stderr
    assert db.read_bytes() == b"garbage" * 1000
    assert run_cli("progress", "reset", "--yes").returncode == 0
    assert run_cli("progress", "export").returncode == 0


def test_index_train_reranker_trains_on_the_current_index(monkeypatch, shared_index_dir, capsys):
    """The CLI wiring only, with a fake trainer; the real `ensure_trained` (overlap split, hard
    negatives, training, the cached model search finds) runs in test_rerank_real.py."""
    import argparse

    from coach.cli import commands
    from coach.search.training import reranker as rerank

    monkeypatch.setenv("COACH_INDEX_DIR", str(shared_index_dir))
    seen = {}

    def fake_train(cfg, idx, progress=None):
        seen["chunks"] = len(idx.chunks)
        return shared_index_dir / "reranker-test"

    monkeypatch.setattr(rerank, "ensure_trained", fake_train)
    args = argparse.Namespace(rebuild=False, train_reranker=True)
    assert commands.cmd_index(args, None) == 0
    assert seen["chunks"] > 50
    assert f"Reranker: {shared_index_dir / 'reranker-test'}" in capsys.readouterr().out
