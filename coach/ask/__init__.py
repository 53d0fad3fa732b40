"""Ask: a question in, a grounded and cited answer out; and the checks of an answer's claims.

pipeline.py runs one turn (input guardrails -> search -> prompt -> streamed generation ->
output guardrails -> `AnswerResult`), turnlog.py records it, support.py is the deterministic
support score (answer sentence vs sources) that answers, guardrails and evals share, judge.py
the faithfulness judge (the model's yes/no logits mixed with the support score).
Public names: Asker, AnswerResult, Source, CANARY, MAX_HISTORY_TURNS, Judge, JudgeSettings,
split_sentences, support_scores, TurnLog, combine (the judge's mixing rule).
Must not import: interview, evals, ui, cli, search.training.
"""

from coach.ask.align import has_negation, lcs
from coach.ask.align import terms as alignment_terms
from coach.ask.judge import Judge, JudgeSettings, combine
from coach.ask.pipeline import CANARY, MAX_HISTORY_TURNS, AnswerResult, Asker, Source
from coach.ask.support import numbers, split_sentences, support_scores
from coach.ask.turnlog import TurnLog

__all__ = [
    "alignment_terms",
    "has_negation",
    "lcs",
    "numbers",
    "AnswerResult",
    "Asker",
    "CANARY",
    "Judge",
    "JudgeSettings",
    "MAX_HISTORY_TURNS",
    "Source",
    "TurnLog",
    "combine",
    "split_sentences",
    "support_scores",
]
