"""Cross-encoder reranking. Not trained yet: until a reranker earns its place on the dev
split, search runs hybrid-only (DESIGN.md, "The reranker")."""

from __future__ import annotations


def load_default(cfg, index):
    """The configured or trained reranker, or None when there is none."""
    return None
