import io

from coach.cli.jsonio import JsonOut, parse_batch_line, run_batch
from coach.errors import BadInput


def test_batch_line_kinds():
    assert parse_batch_line(0, b'{"text": "a"}\n').fields == {"text": "a"}
    assert parse_batch_line(0, b'{"question": "Q1", "answer": "x"}').fields["question"] == "Q1"
    assert parse_batch_line(0, b"[1, 2]\n").fields == {"text": "[1, 2]"}
    assert parse_batch_line(0, b"{not json\n").fields == {"text": "{not json"}
    assert parse_batch_line(3, b"\n").error.code == "empty"
    bad = parse_batch_line(4, b"\xff\xfe oops\n")
    assert bad.error.code == "bad_input" and "UTF-8" in bad.error.message


def test_run_batch_goes_on_after_failures():
    buf = io.StringIO()
    stdin = io.BytesIO(b"one\n\n\xffbad\ntwo\n")

    def handle(fields):
        if fields["text"] == "two":
            raise BadInput("nope")
        return {"echo": fields["text"]}

    assert run_batch(JsonOut(buf), handle, stdin) == 0
    lines = buf.getvalue().splitlines()
    assert lines[0] == '{"echo": "one"}'
    assert '"input_index": 1' in lines[1] and '"empty"' in lines[1]
    assert '"input_index": 2' in lines[2]
    assert '"input_index": 3' in lines[3] and "nope" in lines[3]
    assert len(lines) == 4
