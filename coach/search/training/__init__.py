"""Offline training steps of search, run by hand or by setup, never by serving code.

- `synth`: synthetic questions per chunk from the local LLM
  (`python -m coach.search.training.synth`);
- `labels`: graded relevance labels from the local model (`python -m coach.search.training.labels`);
- `reranker`: the cross-encoder trainer (`coach index --train-reranker`);
- `scope_fit`: the scope model's fit (`python -m coach.search.training.scope_fit`).

Public names: ensure_trained.
May import search, llm and the evals' data and overlap check (to decontaminate); only the CLI
imports this package.
"""

from coach.search.training.reranker import ensure_trained

__all__ = ["ensure_trained"]
