"""Answer benchmark (a script, not a timed test): time to first token p50/p95 with warm models
for both answer modes on the answer-correctness dev split's covered questions, and, for the
generate mode, decode tokens/s next to raw llama-cpp-python on the same prompts in the same run.

    .venv/bin/python scripts/bench_answer.py [--n 24] [--out evals/answer/benchmark.json]

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


def _dist(values: list[float]) -> dict:
    return {"p50": round(percentile(values, 50), 3), "p95": round(percentile(values, 95), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    cfg = load_config()
    rows = [r for r in load_rows("answer/correctness.jsonl", "dev") if r["in_scope"]]
    questions = [r["user_input"] for r in stratified_sample(rows, args.n, lambda r: r["style"])]
    report = {"model": cfg.model, "threads": cfg.threads, "questions": len(questions)}

    quote = Asker(cfg.replace(answer_mode="quote"))
    quote.warm_up()
    quote.ask(questions[0])  # warm
    ttft = [quote.ask(q).timing["first_token_s"] for q in questions]
    report["quote"] = {"ttft_s": _dist([t for t in ttft if t is not None])}

    gen = Asker(cfg.replace(answer_mode="generate"), searcher=quote.searcher, guards=quote.guards)
    gen.warm_up()
    gen.ask(questions[0])  # warm: caches the system-prompt prefix, as in real use
    ours = {"ttft": [], "decode": [], "prompt": []}
    prompts = []
    for q in questions:
        res = gen.ask(q)
        if res.refused or res.timing["first_token_s"] is None:
            continue
        gen_s = res.timing["total_s"] - res.timing["first_token_s"]
        ours["ttft"].append(res.timing["first_token_s"])
        ours["prompt"].append(res.tokens["prompt"])
        if res.tokens["completion"] > 1 and gen_s > 0:
            ours["decode"].append((res.tokens["completion"] - 1) / gen_s)
        prompts.append(gen._messages(q, res.sources))
    llm = gen.generator._llm  # the same loaded model: the raw comparison shares weights
    raw = {"ttft": [], "decode": []}
    for messages in prompts:
        first, total, n = _raw_run(llm, messages, cfg.max_answer_tokens)
        raw["ttft"].append(first)
        if n > 1:
            raw["decode"].append((n - 1) / (total - first))
    report["generate"] = {
        "answered": len(prompts),
        "prompt_tokens_p50": percentile(ours["prompt"], 50),
        # First *model* token; the gate shows the first sentence once it is complete.
        "ttft_s": _dist(ours["ttft"]),
        "decode_tok_s_p50": round(percentile(ours["decode"], 50), 2),
        "raw_llama_cpp": {
            "ttft_s": _dist(raw["ttft"]),
            "decode_tok_s_p50": round(percentile(raw["decode"], 50), 2),
        },
    }
    report["measured"] = time.strftime("%Y-%m-%d %H:%M")
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
