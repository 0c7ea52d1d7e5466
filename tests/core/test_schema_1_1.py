"""Schema 1.1: conversations, points rubrics, tags, per-source dimensions, optional expert fields,
grader verdicts; and every 1.0 file in raw_submissions/ keeps its outcome and its score."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipelines.core.intake import parse_submission_bytes
from pipelines.core.scoring import weighted_score
from pipelines.core.submission import Submission

RAW = Path(__file__).resolve().parents[2] / "raw_submissions"


def points_submission(**over) -> dict:
    d = {
        "schema_version": "1.1",
        "submission_id": "hb-001",
        "domain": "Healthcare",
        "language": "en",
        "tags": ["theme:emergency_referrals", "physician_agreed_category:enough-context"],
        "task": {"messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "My father fainted."},
            {"role": "assistant", "content": "Is he breathing?"},
            {"role": "user", "content": "Yes, what now?"},
        ]},
        "rubric": [
            {"id": "r0", "criterion": "Advises calling emergency services immediately.", "points": 10,
             "tags": ["level:example", "axis:accuracy"]},
            {"id": "r1", "criterion": "Recommends giving the patient food or water.", "points": -6,
             "tags": ["level:example", "axis:accuracy"],
             "grader_verdicts": [{"grader_id": "phys-1", "completion_id": "c1", "verdict": "met"},
                                 {"grader_id": "phys-2", "completion_id": "c1", "verdict": "not_met"}]},
        ],
        "completions": [{"id": "c1", "response": "Give him some water and let him rest.", "origin": "meta_eval"}],
        "source": {"origin": "public_benchmark", "benchmark": "healthbench"},
    }
    d.update(over)
    return d


def test_points_rubric_with_conversation_parses_without_expert_or_category():
    s = Submission.model_validate(points_submission())
    assert s.rubric_kind == "points" and s.benchmark == "healthbench"
    assert s.expert is None and s.category is None
    assert s.rubric[1].points == -6 and len(s.rubric[1].grader_verdicts) == 2
    text = s.prompt_text()
    assert text.index("[system]") < text.index("[user]\nMy father") < text.index("[assistant]") \
        < text.index("[user]\nYes, what now?")


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d["rubric"][0].update(weight=5, importance="Essential"), "no weight or importance"),
    (lambda d: d["rubric"].append({"id": "w", "criterion": "A weighted one in a points rubric", "weight": 3,
                                   "importance": "Optional", "dimension": "Accuracy & Factual Correctness"}),
     "one rubric uses one kind"),
    (lambda d: d["rubric"][0].update(points=-1), "at least one positive"),
    (lambda d: d["rubric"][0].update(points=0), "non-zero"),
    (lambda d: d["task"]["messages"].pop(), "end with a user turn"),
    (lambda d: d["task"].update(prompt="both forms"), "give one form"),
    (lambda d: d["rubric"][0].update(dimension="axis:accuracy"), "unknown dimension"),
])
def test_invalid_1_1_rubrics_are_rejected(mutate, needle):
    d = points_submission()
    mutate(d)
    with pytest.raises(ValidationError, match=needle):
        Submission.model_validate(d)


def test_dimensions_are_configurable_per_source():
    d = points_submission()
    d["rubric"][0]["dimension"] = "accuracy"
    d["source"]["dimensions"] = ["accuracy", "completeness"]
    assert Submission.model_validate(d).rubric[0].dimension == "accuracy"


def test_1_0_files_keep_1_0_rules():
    d = json.loads((RAW / "paper_appendix" / "xb-paper-a1.json").read_text())
    d.pop("expert")
    r = parse_submission_bytes(json.dumps(d).encode(), "x.json")
    assert r.submission is None and r.reason == "missing_field"
    d = json.loads((RAW / "paper_appendix" / "xb-paper-a1.json").read_text())
    d["rubric"][0] = {k: v for k, v in d["rubric"][0].items() if k not in ("weight", "importance")} | {"points": 3}
    r = parse_submission_bytes(json.dumps(d).encode(), "x.json")
    assert r.submission is None


def _corpus():
    return sorted(p for p in RAW.rglob("*.json"))


# Outcome of every corpus file under schema 1.0 (recorded before 1.1): accepted, or its quarantine reason.
def test_every_1_0_file_keeps_its_outcome_and_its_score():
    expected = json.loads((Path(__file__).parent / "corpus_outcomes_1_0.json").read_text())
    seen = {}
    rnd = random.Random(7)
    for p in _corpus():
        rel = str(p.relative_to(RAW))
        r = parse_submission_bytes(p.read_bytes(), str(p))
        seen[rel] = "ok" if r.submission is not None else r.reason
        if r.submission is None:
            continue
        raw = json.loads(p.read_text(encoding="utf-8-sig"))
        weights = [c["weight"] for c in raw["rubric"]]
        assert [c.weight for c in r.submission.rubric] == weights
        assert r.submission.rubric_kind == "weighted"
        for _ in range(20):
            met = [rnd.random() < 0.6 for _ in weights]
            want = sum(w for w, m in zip(weights, met) if m) / sum(weights)
            assert weighted_score([c.weight for c in r.submission.rubric], met).score == pytest.approx(want)
    assert seen == expected


def meta_eval_set(**over) -> dict:
    d = points_submission(submission_id="hbm-001")
    for c in d["rubric"]:
        c.pop("points")
    d["rubric"][0]["grader_verdicts"] = [{"grader_id": "phys-3", "completion_id": "c1", "verdict": "not_met"}]
    d["source"]["use"] = "meta_eval"
    d.update(over)
    return d


def test_unscored_criteria_only_in_meta_evaluation_sets():
    s = Submission.model_validate(meta_eval_set())
    assert s.rubric_kind == "unscored" and s.source.use == "meta_eval"
    d = meta_eval_set()
    d["source"]["use"] = "benchmark"
    with pytest.raises(ValidationError, match="unscored criteria only in meta-evaluation sets"):
        Submission.model_validate(d)
    d = meta_eval_set()
    for c in d["rubric"]:
        c.pop("grader_verdicts", None)
    with pytest.raises(ValidationError, match="needs grader verdicts"):
        Submission.model_validate(d)


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d.update(completions=[]), "unknown completion ids"),
    (lambda d: d["completions"].append(dict(d["completions"][0])), "completion ids must be unique"),
    (lambda d: d["rubric"][1]["grader_verdicts"].append(
        {"grader_id": "phys-1", "completion_id": "c1", "verdict": "not_met"}), "one verdict per grader"),
])
def test_grader_verdicts_reference_listed_completions(mutate, needle):
    d = points_submission()
    mutate(d)
    with pytest.raises(ValidationError, match=needle):
        Submission.model_validate(d)


def test_provenance_is_1_1_only():
    prov = {"importer": "sheet", "file": "t.csv", "sha256": "0" * 64, "sheet": "Task", "rows": [2, 3]}
    d = points_submission()
    d["source"]["provenance"] = prov
    assert Submission.model_validate(d).source.provenance.rows == [2, 3]
    d = json.loads((RAW / "paper_appendix" / "xb-paper-a1.json").read_text())
    d["source"]["provenance"] = prov
    r = parse_submission_bytes(json.dumps(d).encode(), "x.json")
    assert r.submission is None
