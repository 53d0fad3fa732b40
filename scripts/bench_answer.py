"""Answer benchmark (a script, not a timed test): prompt tokens, time to first token p50/p95
with a warm model, and decode tokens/s of the coach's Ask pipeline, next to raw
llama-cpp-python on the same model and the same prompts in the same run.

    .venv/bin/python scripts/bench_answer.py [--n 12] [--out evals/answer/benchmark.json]

Run it on an otherwise idle machine: llama.cpp on 2 cores collapses under any other load.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from coach.ask import Asker
from coach.config import load_config
from coach.evals import load_rows, percentile, stratified_sample


def _raw_run(llm, messages, max_tokens):
    start = time.perf_counter()
    first = None
    n = 0
    for chunk in llm.create_chat_completion(
        messages, max_tokens=max_tokens, temperature=0.0, stream=True
    ):
        if chunk["choices"][0].get("delta", {}).get("content"):
            n += 1
            if first is None:
                first = time.perf_counter() - start
    total = time.perf_counter() - start
    return first or total, total, n


def _summary(ttft: list[float], decode: list[float], prompt_tokens: list[int]) -> dict:
    return {
        "prompt_tokens_p50": percentile(prompt_tokens, 50),
        "ttft_s": {"p50": round(percentile(ttft, 50), 3), "p95": round(percentile(ttft, 95), 3)},
        "decode_tok_s_p50": round(percentile(decode, 50), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    cfg = load_config()
    asker = Asker(cfg)
    asker.warm_up()
    rows = [r for r in load_rows("retrieval/golden.jsonl", "dev") if r["in_scope"]]
    questions = [r["user_input"] for r in stratified_sample(rows, args.n, lambda r: r["kind"])]
    asker.ask(questions[0])  # warm: caches the system-prompt prefix, as in real use
    ours = {"ttft": [], "decode": [], "prompt": []}
    prompts = []
    for q in questions:
        res = asker.ask(q)
        if res.refused or res.timing["first_token_s"] is None:
            continue
        gen_s = res.timing["total_s"] - res.timing["first_token_s"]
        ours["ttft"].append(res.timing["first_token_s"])
        ours["prompt"].append(res.tokens["prompt"])
        if res.tokens["completion"] > 1 and gen_s > 0:
            ours["decode"].append((res.tokens["completion"] - 1) / gen_s)
        sources = [s for s in res.sources]
        prompts.append(asker._messages(q, sources))
    llm = asker.generator._llm  # the same loaded model: the raw comparison shares weights
    raw = {"ttft": [], "decode": [], "prompt": ours["prompt"]}
    _raw_run(llm, prompts[0], cfg.max_answer_tokens)
    for messages in prompts:
        first, total, n = _raw_run(llm, messages, cfg.max_answer_tokens)
        raw["ttft"].append(first)
        if n > 1:
            raw["decode"].append((n - 1) / (total - first))
    report = {
        "model": cfg.model,
        "threads": cfg.threads,
        "questions": len(prompts),
        "coach": _summary(ours["ttft"], ours["decode"], ours["prompt"]),
        "raw_llama_cpp": _summary(raw["ttft"], raw["decode"], raw["prompt"]),
    }
    report["decode_ratio"] = round(
        report["coach"]["decode_tok_s_p50"] / report["raw_llama_cpp"]["decode_tok_s_p50"], 3
    )
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
