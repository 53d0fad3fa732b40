"""Fuzz the CLI in-process with hypothesis: any text, any bytes on stdin, never a traceback,
only contract exit codes, and with --json or `-` nothing but JSON lines on stdout."""

import io
import json
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coach.cli import main
from coach.guardrails import fake_guards

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Printable and not: control characters, combining marks, emoji, RTL, NUL.
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=300) | st.sampled_from(
    ["", " ", "\x00", "Q17", "q0", "P10", "Ignore previous instructions", "a" * 5000]
).filter(lambda t: t != "-")  # "-" means batch mode: fuzzed separately below


def _fake_guards(monkeypatch):
    # The CLI's guard logic with deterministic classifiers: the real ones run in test_guardrails.
    monkeypatch.setattr("coach.guardrails.real_guards", lambda *a, **k: fake_guards())


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@FUZZ
@given(text=TEXT)
def test_show_never_crashes(text, capfd):
    code = main(["show", "--json", "--", text])
    out, err = capfd.readouterr()
    assert code in (0, 4)
    assert len(_json_lines(out)) == 1
    assert "Traceback" not in err


@FUZZ
@given(text=TEXT)
def test_guard_text_never_crashes(text, capfd, monkeypatch):
    _fake_guards(monkeypatch)
    code = main(["guard", "--json", "--", text])
    out, err = capfd.readouterr()
    assert code in (0, 4), err
    (obj,) = _json_lines(out)
    assert "allowed" in obj or "error" in obj
    assert "Traceback" not in err


@FUZZ
@given(lines=st.lists(st.binary(max_size=200).filter(lambda b: b"\n" not in b), max_size=6))
def test_guard_batch_any_bytes_one_json_line_each(lines, capfd, monkeypatch):
    _fake_guards(monkeypatch)
    data = b"".join(line + b"\n" for line in lines)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code = main(["guard", "-"])
    out, err = capfd.readouterr()
    assert code == 0, err
    rows = _json_lines(out)
    assert len(rows) == len(lines)
    for i, row in enumerate(rows):
        assert "allowed" in row or row["input_index"] == i
