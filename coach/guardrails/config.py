"""Every guardrail threshold and limit, in one frozen dataclass.

Values were tuned on the red-team *dev* split only (evals/guardrails/redteam.jsonl); the test
split reports them. Change a value here, rerun `run_redteam("dev")`, then report on test.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GuardConfig:
    # Size limits from the issue: an Ask question is a question, not a document; an interview
    # answer can be long, but 20k chars is ~10 spoken minutes and bounds grading cost.
    max_ask_chars: int = 2_000
    max_interview_chars: int = 20_000
    # Outputs are the model's own text, bounded by max_tokens; this only protects the regexes.
    max_output_chars: int = 50_000
    # Huge inputs are cut to this before any work at all, so a 1 MB paste costs what 20k does.
    hard_cut_chars: int = 20_000

    # NanoGuard pads everything to 512 tokens, so one call costs ~90 ms whatever the length:
    # we make exactly one call per input (on the decoded/normalised view) to stay under
    # the 150 ms p95 budget. 0.5 is the package default; the dev split kept it (see README).
    injection_threshold: float = 0.5
    # Interview answers are technical prose that NanoGuard has not seen much of; an answer is
    # graded anyway, so the classifier only contributes when it is very sure.
    answer_injection_threshold: float = 0.98
    # Probability from the logistic regression on MiniLM embeddings.
    harmful_threshold: float = 0.5
    # profanity_check is a lexical SVM: "how do I kill a job" scores 0.89, so only near-certain
    # scores count, and toxicity in a question is a flag, never a block.
    toxicity_threshold: float = 0.97

    # A question is "non-English" when fewer than this share of its letters are Latin, or when
    # it is mostly stop words of another Latin-script language (see language.py).
    min_latin_share: float = 0.6

    # Output checks. Ten consecutive words of the system prompt in an answer is a leak, not a
    # coincidence: instructions are phrased unlike handbook prose.
    leak_ngram_words: int = 10
    # Support scores below this mark a sentence "ungrounded" (support module's scale, 0..1).
    support_threshold: float = 0.5


DEFAULT_CONFIG = GuardConfig()
