"""Small valid submissions for unit tests, built in code so each test shows what it varies."""

from __future__ import annotations

from typing import Any

from pipelines.core.submission import Submission

WORDS = ("liquidity covenant leverage refinancing maturity collateral amortisation hedging "
         "counterparty exposure derivative valuation discount premium volatility tranche "
         "guarantee seniority").split()
QUALIFIERS = ("quarterly audited projected blended nominal adjusted trailing forward gross net "
              "weighted marginal implied effective residual headline consolidated segment").split()


def submission_dict(sid: str = "t-001", *, expert: str = "e1", domain: str = "Finance",
                    n_checkpoints: int = 16, topic: str = "covenant", when: str = "2026-01-01T00:00:00Z",
                    **overrides: Any) -> dict:
    rubric = [
        {"id": f"c{i:02d}",
         # Each criterion has its own words, so a truncated answer really misses the later ones.
         "criterion": f"{QUALIFIERS[i % 18].capitalize()} {WORDS[i % 18]} equals {100 + 7 * i}",
         "weight": 10 if i < 6 else (6 if i < 13 else 2),
         "importance": "Essential" if i < 6 else ("Important" if i < 13 else "Optional"),
         "dimension": "Accuracy & Factual Correctness", "polarity": "requirement"}
        for i in range(1, n_checkpoints + 1)
    ]
    words = " ".join(f"{topic} {w} figure number {i}" for i, w in enumerate(WORDS))
    d = {
        "schema_version": "1.0",
        "submission_id": sid,
        "submitted_at": when,
        "expert": {"id": expert, "domain": domain, "credentials": ["CFA"]},
        "domain": domain,
        "category": "Equity Research & Corporate Analysis",
        "language": "en",
        "task": {"scenario": f"You advise a lender on the {topic} of a client.",
                 "background": f"Facts about {topic}: {words}.",
                 "deliverables": f"Write a memo on the {topic} with all figures."},
        "reference_answer": f"The {topic} memo. " + " ".join(c["criterion"] + "." for c in rubric) + " " * 10,
        "rubric": rubric,
    }
    d.update(overrides)
    return d


def make(sid: str = "t-001", **kw: Any) -> Submission:
    return Submission.model_validate(submission_dict(sid, **kw))
