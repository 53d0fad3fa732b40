"""Train the coach's cross-encoder (coach/search/minilm_reranker.py) on graded labels.

Data: corpus/reranker_labels.jsonl (coach/search/training/labels.py): per training query, the
serving pipeline's own top sections (each section's best chunk) plus every section the query is
labelled with; half the out-of-scope queries (the other half is the scope model's, see
labels.held_for_scope) with all their candidates as negatives. Targets per pair: 1 for a section
the query is labelled with, else a soft target from the local model's graded verdict,
`other_target(P(yes))` (a candidate the model is sure answers the query gets up to 0.5: the
author may have missed a section that also answers; the model's yes-bias puts ordinary
negatives near P(yes) = 0.6, so only well above it counts). Loss: binary cross-entropy on the soft
targets for every pair, plus a listwise softmax cross-entropy per query that puts the labelled
sections above the others. One in ten queries (by a hash of the text) is held out: the loss and
the share of held-out queries whose labelled section ranks first are measured before and after,
and training stops keeping a model that did not improve on them.
Leaves out: choosing the interpolation weight and depth (the retrieval eval's dev split).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from coach.errors import SetupError
from coach.search.minilm_reranker import (
    MAX_LENGTH,
    RERANKER_DIR,
    TRAINED_LAYERS,
    build_model,
    data_hash,
    trainable,
)
from coach.search.training.labels import LABELS_PATH, QUERIES_PATH, held_for_scope


def other_target(p_yes: float | None) -> float:
    """The soft target of a candidate the query is not labelled with.

    >>> other_target(0.6), other_target(1.0), other_target(None)
    (0.0, 0.5, 0.0)
    """
    if p_yes is None:
        return 0.0
    return round(0.5 * min(1.0, max(0.0, (p_yes - 0.6) / 0.4)), 4)


def is_dev(text: str) -> bool:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 10 == 0


def query_lists(rows: list[dict], passage: Callable[[str], str]) -> list[dict]:
    """Per query: its passages, targets and which are labelled (gold)."""
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by[r["text"]].append(r)
    out = []
    for text, pairs in sorted(by.items()):
        out.append(
            {
                "query": text,
                "passages": [passage(p["chunk_id"]) for p in pairs],
                "targets": [1.0 if p["gold"] else other_target(p.get("llm")) for p in pairs],
                "gold": [bool(p["gold"]) for p in pairs],
            }
        )
    return out


def _batch_loss(model, tokenizer, lists, torch):
    pairs = [(q["query"], p) for q in lists for p in q["passages"]]
    enc = tokenizer(
        [a for a, _ in pairs],
        [b for _, b in pairs],
        truncation="only_second",
        max_length=MAX_LENGTH,
        padding=True,
        return_tensors="pt",
    )
    logits = model(**enc)
    targets = torch.tensor([t for q in lists for t in q["targets"]], dtype=logits.dtype)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
    listwise, hits, ranked = [], 0, 0
    start = 0
    for q in lists:
        n = len(q["passages"])
        scores = logits[start : start + n]
        start += n
        gold = [i for i, g in enumerate(q["gold"]) if g]
        if gold and len(gold) < n:
            logp = torch.log_softmax(scores, dim=0)
            listwise.append(-torch.logsumexp(logp[gold], dim=0))
            ranked += 1
            hits += int(int(scores.argmax()) in gold)
    if listwise:
        loss = loss + 0.5 * torch.stack(listwise).mean()
    return loss, hits, ranked


def _evaluate(model, tokenizer, lists, torch) -> tuple[float, float]:
    model.eval()
    total, hits, ranked = 0.0, 0, 0
    with torch.no_grad():
        for i in range(0, len(lists), 8):
            batch = lists[i : i + 8]
            loss, h, r = _batch_loss(model, tokenizer, batch, torch)
            total += float(loss) * len(batch)
            hits, ranked = hits + h, ranked + r
    model.train()
    return round(total / max(1, len(lists)), 4), round(hits / max(1, ranked), 4)


def train(
    rows: list[dict],
    passage: Callable[[str], str],
    out_dir: Path,
    *,
    epochs: float = 2.0,
    batch_queries: int = 8,
    lr: float = 5e-5,
    head_lr: float = 1e-3,
    layers: int = TRAINED_LAYERS,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    data_key: str = "",
) -> dict:
    """Fine-tune and write `overlay.safetensors` + `model.json` into `out_dir`."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    from coach.search.minilm_reranker import base_path

    say = progress or (lambda _m: None)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    lists = query_lists(rows, passage)
    dev = [q for q in lists if is_dev(q["query"])]
    train_lists = [q for q in lists if not is_dev(q["query"])]
    if not train_lists or not dev:
        raise SetupError("Not enough reranker labels to train: run python -m "
                         "coach.search.training.labels")  # fmt: skip
    start = time.perf_counter()
    model = build_model(torch)
    tokenizer = AutoTokenizer.from_pretrained(str(base_path()), local_files_only=True)
    body, head = [], []
    for name, param in model.named_parameters():
        param.requires_grad = trainable(name, layers)
        if param.requires_grad:
            (head if name.startswith("head.") else body).append(param)
    opt = torch.optim.AdamW([{"params": body, "lr": lr}, {"params": head, "lr": head_lr}])
    steps = max(1, int(epochs * len(train_lists) / batch_queries))
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.05, 1 - s / steps)
    )
    before = _evaluate(model, tokenizer, dev, torch)
    say(f"    dev before: loss {before[0]:.3f}, labelled section first {before[1]:.3f}")
    order: list[int] = []
    curve, running = [], []
    model.train()
    for step in range(steps):
        if len(order) < batch_queries:
            order = list(range(len(train_lists)))
            rng.shuffle(order)
        batch = [train_lists[order.pop()] for _ in range(batch_queries)]
        loss, _, _ = _batch_loss(model, tokenizer, batch, torch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(body + head, 1.0)
        opt.step()
        sched.step()
        running.append(float(loss.detach()))
        if (step + 1) % 25 == 0 or step + 1 == steps:
            curve.append(round(sum(running) / len(running), 4))
            running = []
            say(f"    step {step + 1}/{steps}: loss {curve[-1]:.3f} "
                f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
    after = _evaluate(model, tokenizer, dev, torch)
    say(f"    dev after: loss {after[0]:.3f}, labelled section first {after[1]:.3f}")
    report = {
        "data_hash": data_key,
        "layers": layers,
        "steps": steps,
        "epochs": epochs,
        "train_queries": len(train_lists),
        "dev_queries": len(dev),
        "seconds": round(time.perf_counter() - start, 1),
        "dev_loss_before": before[0],
        "dev_loss_after": after[0],
        "dev_first_before": before[1],
        "dev_first_after": after[1],
        "loss_curve": curve,
    }
    if after[0] >= before[0]:
        raise SetupError(f"The reranker did not learn (held-out loss {before[0]} -> {after[0]}).")
    out_dir.mkdir(parents=True, exist_ok=True)
    overlay = {
        n: p.detach().to(torch.float16).contiguous()
        for n, p in model.named_parameters()
        if p.requires_grad
    }
    save_file(overlay, str(out_dir / "overlay.safetensors"))
    (out_dir / "model.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def load_labels(path: Path = LABELS_PATH) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def ensure_trained(cfg, index, progress: Callable[[str], None] | None = None) -> Path:
    """Train the reranker into corpus/reranker/ unless the shipped one matches the labels."""
    key = data_hash(QUERIES_PATH, LABELS_PATH)
    meta = RERANKER_DIR / "model.json"
    if meta.exists() and json.loads(meta.read_text()).get("data_hash") == key:
        return RERANKER_DIR
    rows = [r for r in load_labels() if not (r.get("out_of_scope") and held_for_scope(r["text"]))]
    if not rows:
        raise SetupError("No reranker labels: run python -m coach.search.training.labels")
    by_id = index.by_id
    train(rows, lambda cid: by_id[cid].text, RERANKER_DIR, progress=progress, data_key=key)
    return RERANKER_DIR
