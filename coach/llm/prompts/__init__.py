"""Prompt and message templates as package data (YAML), rendered strictly.

`render("answer", "user", question=..., sources=...)` raises PromptError when a ${variable} is
missing, so a template edit can never silently send an empty slot to the model.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template

import yaml

from coach.errors import CoachError


class PromptError(CoachError):
    code = "prompt"


@cache
def load(name: str) -> dict[str, str]:
    text = resources.files("coach.llm.prompts").joinpath(f"{name}.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def render(name: str, key: str, **values: object) -> str:
    """Fill one template.

    >>> render("refusals", "cancelled")
    '(stopped)'
    """
    try:
        template = load(name)[key]
    except KeyError:
        raise PromptError(f"No prompt {name}.{key}") from None
    try:
        return Template(template).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise PromptError(f"Prompt {name}.{key} needs a value for {exc}") from exc
