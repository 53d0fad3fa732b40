"""The action matrix: which action (block / redact / caveat / flag) a check gets per context.

The matrix is data (actions.json) so it can be reviewed and documented in one table (README.md).
Contexts: "ask" (a user's question), "interview" (a candidate's answer: data, never
instructions, so injections in it are flagged as `answer_injection` and still graded) and
"output" (the model's answer).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from coach.guardrails.verdict import ACTIONS, FLAGS

CONTEXTS: tuple[str, ...] = ("ask", "interview", "output")

# In an interview answer these become one `answer_injection` flag: what matters to the grader
# is "this answer tried to instruct you", not which trick it used.
INJECTION_FAMILY: frozenset[str] = frozenset({"prompt_injection", "jailbreak", "prompt_extraction"})


@lru_cache(maxsize=1)
def action_matrix() -> dict[str, dict[str, str]]:
    """Load and validate actions.json; a bad entry is a packaging bug, so fail loudly."""
    raw = json.loads(resources.files("coach.guardrails").joinpath("actions.json").read_text())
    matrix = {k: v for k, v in raw.items() if not k.startswith("_")}
    for check, row in matrix.items():
        if check not in FLAGS:
            raise ValueError(f"actions.json: unknown check {check!r}")
        for context, action in row.items():
            if context not in CONTEXTS or action not in ACTIONS:
                raise ValueError(f"actions.json: bad entry {check}/{context}={action}")
    return matrix


def action_for(check: str, context: str) -> str | None:
    """The action for `check` in `context`, or None when the check does not apply there.

    >>> action_for("prompt_injection", "ask"), action_for("answer_injection", "interview")
    ('block', 'flag')
    """
    return action_matrix().get(check, {}).get(context)
