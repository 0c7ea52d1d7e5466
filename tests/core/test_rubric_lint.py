import json
from pathlib import Path

from pipelines.config import RubricConfig
from pipelines.core.rubric_lint import clause_count, lint_all, lint_submission
from pipelines.core.submission import Submission
from pipelines.paths import PROJECT_ROOT
from tests.core.factories import submission_dict

CFG = RubricConfig()


def checks(d) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in lint_submission(Submission.model_validate(d), CFG):
        out.setdefault(f.check, []).append(f)
    return out


def test_clean_rubric_has_no_findings():
    assert checks(submission_dict()) == {}


def test_checkpoint_count_outside_range_is_a_warning():
    found = checks(submission_dict(n_checkpoints=10))
    assert found["checkpoint_count"][0].severity == "warning"
    assert "checkpoint_count" not in checks(submission_dict(n_checkpoints=15))


def test_weight_order_against_importance_is_an_error():
    d = submission_dict()
    d["rubric"][-1]["weight"] = 9  # an Optional checkpoint heavier than Essential ones
    f = checks(d)
    assert f["weight_order"][0].severity == "error"
    assert "weight_band" in f


def test_compound_criterion_flagged():
    assert clause_count("States the margin as 15%.") == 1
    assert clause_count("Must satisfy all of the following: 1. a 2. b 3. c") >= 3
    d = submission_dict()
    d["rubric"][0]["criterion"] = "Computes the ratio; explains the trend; and also lists three risks"
    assert "atomicity" in checks(d)


def test_polarity_mismatch_flagged():
    d = submission_dict()
    d["rubric"][0]["criterion"] = "Must not recommend a buy rating for the covenant"
    assert "polarity" in checks(d)


def test_unknown_category_is_a_warning_not_a_rejection():
    d = submission_dict(category="Brand New Category")
    assert checks(d)["unknown_category"][0].severity == "warning"


def test_rubric_written_for_another_task_is_caught_and_the_match_named():
    right = submission_dict("right", topic="covenant")
    other = submission_dict("other", expert="e2", topic="orbital")
    swapped = dict(other, submission_id="swapped", rubric=right["rubric"])
    # A rich prompt: enough words to show the rubric is foreign (a thin one is only a warning).
    swapped["task"] = {"prompt": (
        "Plan a two-week Italian cooking course for teenagers at a community centre. Each afternoon session "
        "lasts ninety minutes in a kitchen with six stations. Cover fresh pasta dough, tomato sauce, risotto, "
        "focaccia, gelato and pesto, with tasting notes, shopping lists, allergy labelling, knife safety, hygiene "
        "rules, budgeting per student, seasonal vegetables, regional traditions from Sicily, Tuscany and Liguria, "
        "and a final family dinner where students present their menus.")}
    swapped["reference_answer"] = "Day one: pasta dough by hand; day two: tomato sauce. " * 8
    subs = [Submission.model_validate(x) for x in (right, other, swapped)]
    found = [f for f in lint_all(subs, CFG) if f.check == "task_rubric_mismatch"]
    assert [f.submission_id for f in found] == ["swapped"]
    assert found[0].severity == "error" and "right" in found[0].message


def test_paper_education_example_is_flagged_as_mismatch():
    path = PROJECT_ROOT / "raw_submissions/paper_appendix/xb-paper-a3.json"
    a3 = Submission.model_validate(json.loads(Path(path).read_text()))
    found = {f.check for f in lint_submission(a3, CFG)}
    assert "task_rubric_mismatch" in found
    for ok in ("xb-paper-a1", "xb-paper-a2", "xb-paper-a4", "xb-paper-a5"):
        s = Submission.model_validate(json.loads((path.parent / f"{ok}.json").read_text()))
        assert "task_rubric_mismatch" not in {f.check for f in lint_submission(s, CFG)}, ok
