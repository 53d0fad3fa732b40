"""Guardrails: layered input and output defences, and the shared flag vocabulary.

Public API (importing this package is cheap: models load on first use):
- `check_input(text, context="ask"|"interview", guards=None) -> Verdict`
- `check_output(answer, source_ids, canary, support=None, ...) -> (cleaned_text, Verdict)`
- `scrub_pii(text) -> str`, `refusal_for(verdict) -> str`
- `strip_injections(answer)`, `split_addressed(text)`: sentences of data that address a reader
- `FLAGS`, `Flag`, `Verdict`; `real_guards()` / `fake_guards()` build the classifier set.
See README.md in this folder for the layers and the action matrix.
"""

from coach.guardrails.actions import action_for, action_matrix
from coach.guardrails.addressed import split_addressed, strip_injections
from coach.guardrails.classifiers import Guards, UsesGuards, fake_guards, real_guards
from coach.guardrails.config import DEFAULT_CONFIG, GuardConfig
from coach.guardrails.input_checks import check_input, rule_findings
from coach.guardrails.output_checks import check_output, leaks_prompt
from coach.guardrails.pii import scrub_pii, scrub_pii_kinds
from coach.guardrails.refusals import refusal_for
from coach.guardrails.verdict import ACTIONS, FLAGS, Flag, Verdict

__all__ = [
    "action_for",
    "action_matrix",
    "ACTIONS",
    "check_input",
    "check_output",
    "DEFAULT_CONFIG",
    "fake_guards",
    "Flag",
    "FLAGS",
    "GuardConfig",
    "Guards",
    "UsesGuards",
    "leaks_prompt",
    "real_guards",
    "refusal_for",
    "rule_findings",
    "scrub_pii",
    "scrub_pii_kinds",
    "split_addressed",
    "strip_injections",
    "Verdict",
]
