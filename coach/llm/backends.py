"""The factory: one generator per configuration and process, chosen by `cfg.backend`."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from coach.config import Config
from coach.errors import SetupError
from coach.llm.generator import Generator
from coach.llm.hf_transformers import TransformersGenerator
from coach.llm.llamacpp import LlamaCppGenerator
from coach.llm.openai_server import OpenAIServerGenerator

_BACKENDS: dict[str, Callable[[Config], Generator]] = {
    "llama_cpp": LlamaCppGenerator,
    "openai": OpenAIServerGenerator,
    "transformers": TransformersGenerator,
}


@lru_cache(maxsize=4)
def _generator_for(cfg: Config) -> Generator:
    try:
        backend = _BACKENDS[cfg.backend]
    except KeyError:
        raise SetupError(
            f"Unknown backend {cfg.backend!r}; choose one of {', '.join(_BACKENDS)}."
        ) from None
    return backend(cfg)


def get_generator(cfg: Config) -> Generator:
    """The one generator per configuration in this process (models load once)."""
    return _generator_for(cfg)


class UsesGenerator:
    """A mixin for classes given a generator (tests: a fake) or else using the configured one,
    looked up on first use so that constructing them stays cheap."""

    cfg: Config
    _generator: Generator | None = None

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            self._generator = get_generator(self.cfg)
        return self._generator
