"""The guardrails' shared vocabulary: flag names, actions and the typed verdict.

Every command (`ask`, `grade`, `guard`, `eval`) reports flags with these names; DESIGN.md's
command-line contract fixes them. Leaves out: deciding which action a flag gets (actions.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The one flag vocabulary (DESIGN.md, "Flag names"). Order is the contract's order.
FLAGS: tuple[str, ...] = (
    "prompt_injection",
    "jailbreak",
    "prompt_extraction",
    "harmful",
    "toxicity",
    "pii",
    "size_limit",
    "empty",
    "non_english",
    "out_of_scope",
    "invalid_citation",
    "no_citation",
    "ungrounded",
    "canary_leak",
    "answer_injection",
)

# Strongest first: a verdict's overall action is the strongest of its flags' actions.
ACTIONS: tuple[str, ...] = ("block", "redact", "caveat", "flag")


@dataclass(frozen=True)
class Flag:
    """One finding. `score` is in [0, 1]: 1.0 for a rule hit, a probability for a classifier."""

    name: str
    score: float
    action: str
    detail: str = ""

    def __post_init__(self) -> None:
        # Raised, not asserted: a typo in a flag name must fail loudly even under `python -O`.
        if self.name not in FLAGS:
            raise ValueError(f"unknown flag {self.name!r}; the vocabulary is {FLAGS}")
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; use one of {ACTIONS}")

    def to_json(self) -> dict:
        return {"name": self.name, "score": round(float(self.score), 4), "action": self.action}


@dataclass(frozen=True)
class Verdict:
    """The outcome of one guard pass.

    `text` is the input (or answer) after PII scrubbing and citation clean-up: what may be
    stored or shown. Callers that grade an interview answer keep the raw text themselves.
    """

    allowed: bool
    flags: tuple[Flag, ...] = field(default_factory=tuple)
    text: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.flags)

    def has(self, name: str) -> bool:
        return name in self.names

    def blocking(self) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if f.action == "block")

    def to_json(self) -> dict:
        """The `coach guard` JSON contract: {"allowed", "flags": [{name, score, action}], "text"}.

        >>> Verdict(True, (Flag("pii", 1.0, "redact"),), "mail [EMAIL]").to_json()["flags"]
        [{'name': 'pii', 'score': 1.0, 'action': 'redact'}]
        """
        return {
            "allowed": self.allowed,
            "flags": [f.to_json() for f in self.flags],
            "text": self.text,
        }
