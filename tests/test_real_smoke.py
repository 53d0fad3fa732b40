"""The real models, loaded offline from their packages: embedder and LLM generate."""

import os

import numpy as np
import pytest

from coach.config import load_config

pytestmark = pytest.mark.real


def test_offline_variables_are_set_by_importing_coach():
    import coach  # noqa: F401

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        assert os.environ[name] == "1"
    assert os.environ["RAGAS_DO_NOT_TRACK"] == "true"
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


def test_real_embedder_separates_related_from_unrelated():
    from coach.search import MiniLMEmbedder

    v = MiniLMEmbedder().embed(["nucleus sampling", "top-p sampling", "a recipe for bread"])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_real_llm_generates_a_few_tokens(real_models):
    from coach.llm import LlamaCppGenerator

    gen = LlamaCppGenerator(load_config())
    pieces = []
    stream = gen.stream(
        [{"role": "user", "content": "Reply with the single word: hello"}], max_tokens=8
    )
    while True:
        try:
            pieces.append(next(stream))
        except StopIteration as stop:
            reply = stop.value
            break
    assert "hello" in reply.text.lower()
    assert reply.text == "".join(pieces)
    assert reply.prompt_tokens > 0 and 0 < reply.completion_tokens <= 8
    assert 0 < reply.first_token_s <= reply.total_s


def test_real_llm_honours_a_json_schema(real_models):
    import json

    from coach.llm import LlamaCppGenerator

    gen = LlamaCppGenerator(load_config())
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    reply = gen.complete(
        [{"role": "user", "content": "What is 2+3? Answer in JSON."}], max_tokens=20, schema=schema
    )
    assert json.loads(reply.text)["answer"] == 5
