"""Refusal texts (data in refusals.json): what the user reads when a guard blocks."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from coach.guardrails.verdict import Verdict


@lru_cache(maxsize=1)
def refusals() -> dict[str, str]:
    raw = json.loads(resources.files("coach.guardrails").joinpath("refusals.json").read_text())
    return {k: v for k, v in raw.items() if not k.startswith("_")}


# When several flags block, the most specific refusal wins: a harmful request gets the
# safety wording even if it also looked like an injection.
_PRIORITY = (
    "harmful",
    "canary_leak",
    "prompt_extraction",
    "jailbreak",
    "prompt_injection",
    "toxicity",
    "size_limit",
    "empty",
)


def refusal_for(verdict: Verdict) -> str:
    """The refusal text for a blocked verdict ("" when it is allowed).

    >>> from coach.guardrails.verdict import Flag
    >>> refusal_for(Verdict(False, (Flag("empty", 1.0, "block"),), "")).startswith("I didn't")
    True
    """
    if verdict.allowed:
        return ""
    blocking = {f.name for f in verdict.blocking()}
    table = refusals()
    for name in _PRIORITY:
        if name in blocking:
            return table.get(name, table["default"])
    return table["default"]
