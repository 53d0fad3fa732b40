"""The local language model: model files, the generation backends, and the prompts.

One interface, `Generator` (generator.py: `stream`, with `complete` and `choice_probabilities`
derived or overridden), one backend per module (llamacpp, openai_server, hf_transformers, and
the test fake), chosen in one factory (backends.py: `get_generator`). Prompts are YAML package
data rendered strictly (prompts/). Model files are assembled from packages (modelfiles.py).
Public names: Generator, Reply, CancelToken, Messages, UsesGenerator, get_generator,
LlamaCppGenerator, OpenAIServerGenerator, TransformersGenerator, FakeGenerator, extract_json,
server_base_url, MODELS, FIX, ModelSpec, ensure_model, model_status, spec_for; the module prompts.
Must not import: handbook, search, guardrails, ask, interview, evals, ui, cli.
"""

from coach.llm.backends import UsesGenerator, get_generator
from coach.llm.fake import FakeGenerator
from coach.llm.generator import CancelToken, Generator, Messages, Reply
from coach.llm.hf_transformers import TransformersGenerator, extract_json
from coach.llm.llamacpp import LlamaCppGenerator
from coach.llm.modelfiles import FIX, MODELS, ModelSpec, ensure_model, model_status, spec_for
from coach.llm.openai_server import OpenAIServerGenerator, server_base_url

__all__ = [
    "CancelToken",
    "FIX",
    "FakeGenerator",
    "Generator",
    "LlamaCppGenerator",
    "MODELS",
    "Messages",
    "ModelSpec",
    "OpenAIServerGenerator",
    "Reply",
    "TransformersGenerator",
    "UsesGenerator",
    "ensure_model",
    "extract_json",
    "get_generator",
    "model_status",
    "server_base_url",
    "spec_for",
]
