"""Lint that holds on real rubrics: measured on hand-labelled HealthBench-format tasks (issue 10, item 5).

The figures come from tests/core/lint_measure.py (`.venv/bin/python -m tests.core.lint_measure`)."""

from __future__ import annotations

import pytest

from pipelines.config import RubricConfig
from pipelines.core.rubric_lint import lint_submission
from pipelines.core.submission import Submission
from tests.core.factories import submission_dict
from tests.core.lint_measure import measure
from tests.core.test_schema_1_1 import points_submission


@pytest.fixture(scope="module")
def m():
    return measure()


def test_false_positive_rate_of_error_findings_is_at_most_2_percent(m):
    assert m.well_formed >= 50
    assert m.fp_rate <= 0.02, m.false_positives


def test_every_seeded_defect_of_the_flawed_corpus_is_still_an_error(m):
    assert all(m.seeded_caught.values()), m.seeded_caught
    assert m.corpus_errors == set(m.seeded_caught)  # and nothing else in the corpus


def test_seeded_healthbench_style_mismatches_are_flagged_for_the_author(m):
    # A short prompt cannot prove which of two tasks owns a rubric: a warning that names the other task.
    assert len(m.hb_mismatch_findings) == 3
    assert all("rubric_copied:warning" in fs for fs in m.hb_mismatch_findings.values())


def _mismatch(d: dict) -> set[str]:
    return {f"{f.check}:{f.severity}" for f in lint_submission(Submission.model_validate(d), RubricConfig())
            if f.check.startswith("task_rubric")}


@pytest.mark.parametrize("prompt", [
    "chest pain",                                                      # short
    "https://www.nhs.uk/conditions/gout/",                             # URL only
    "Mi hijo de 4 años tiene fiebre de 39 grados desde ayer. ¿Qué hago?",  # another language than the rubric
])
def test_thin_or_foreign_prompts_are_not_called_mismatched(prompt):
    d = points_submission()
    d["task"] = {"messages": [{"role": "user", "content": prompt}]}
    assert _mismatch(d) == {"task_rubric_unchecked:warning"}


def test_a_rich_prompt_with_a_foreign_rubric_is_still_an_error():
    d = submission_dict("swapped")
    d["task"] = {"prompt": (
        "Plan a two-week Italian cooking course for teenagers at a community centre. Each afternoon session "
        "lasts ninety minutes in a kitchen with six stations. Cover fresh pasta dough, tomato sauce, risotto, "
        "focaccia, gelato and pesto, with tasting notes, shopping lists, allergy labelling, knife safety, hygiene "
        "rules, budgeting per student, seasonal vegetables, regional traditions from Sicily, Tuscany and Liguria, "
        "and a final family dinner where students present their menus.")}
    d["reference_answer"] = "Day one: pasta dough by hand; day two: tomato sauce. " * 8
    assert _mismatch(d) == {"task_rubric_mismatch:error"}
