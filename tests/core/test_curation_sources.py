"""Curation decides about single tasks per benchmark source; nothing here can halt the run."""

from __future__ import annotations

from pipelines.config import CurationConfig
from pipelines.core.curation import curate
from pipelines.core.submission import Submission
from tests.core.factories import make, submission_dict
from tests.core.test_schema_1_1 import points_submission


def _decision(subs, cfg=CurationConfig()):
    return {d.submission_id: (d.kept, d.rule) for d in curate(subs, cfg)}


def test_short_prompt_is_dropped_with_its_reason_not_halting():
    short = Submission.model_validate(submission_dict("t-short", task={"prompt": "Value the bond."}))
    out = _decision([short, make("t-ok")])
    assert out["t-short"] == (False, "prompt_length") and out["t-ok"][0] is True


def test_public_source_without_expert_category_or_reference_is_kept():
    hb = Submission.model_validate(points_submission())
    assert _decision([hb])["hb-001"][0] is True


def test_required_fields_are_configurable_per_source():
    hb = Submission.model_validate(points_submission())
    cfg = CurationConfig(required_fields={"healthbench": ("reference_answer",)})
    assert _decision([hb], cfg)["hb-001"] == (False, "reference_answer")
    cfg = CurationConfig(min_prompt_chars={"healthbench": 500})
    assert _decision([hb], cfg)["hb-001"] == (False, "prompt_length")
