"""The stand-in judge's lexical rule: how much of a criterion an answer covers (pure, no I/O).

The rule is deliberately transparent: a criterion is met when enough of its content tokens
(pipelines/core/text.py: meaningful words, numbers, CJK bigrams) occur in the answer. Nothing
here claims to measure answer quality.
"""

from __future__ import annotations

from collections.abc import Iterable


def coverage(criterion_tokens: Iterable[str], answer_tokens: set[str]) -> tuple[float, list[str], list[str]]:
    """Share of criterion tokens found in the answer, with the matched and missing tokens (sorted).

    An empty criterion has coverage 0.0: with nothing to look for, nothing was found.
    """
    crit = sorted(set(criterion_tokens))
    matched = [t for t in crit if t in answer_tokens]
    missing = [t for t in crit if t not in answer_tokens]
    return (len(matched) / len(crit) if crit else 0.0), matched, missing
