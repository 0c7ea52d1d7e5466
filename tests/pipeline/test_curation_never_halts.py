"""Curation decides about tasks; blocking checks guard the pipeline (issue 10, item 4).

One folder holds a task with each per-task problem (length, language, missing reference, lint errors,
an empty or very short criterion, a duplicate prompt): a real Dagster run of the curation stage drops or
flags each in curation_log / rubric_findings, and every blocking check passes."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd

from pipelines.cli.orchestrate import CURATION, materialize
from tests.core.factories import submission_dict
from tests.core.test_schema_1_1 import points_submission
from tests.pipeline.helpers import models_yaml, pipeline_defs, pipeline_yaml


def _write(raw, d):
    (raw / f"{d['submission_id']}.json").write_text(json.dumps(d), encoding="utf-8")


def test_per_task_problems_never_fail_a_blocking_check(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for i, dom in enumerate(["Finance", "Law", "Healthcare"]):
        _write(raw, submission_dict(f"ok-{i}", expert=f"e{i}", domain=dom, topic=f"topic{i}x"))
    _write(raw, submission_dict("short-prompt", expert="e10", task={"prompt": "Value the bond."}))
    _write(raw, submission_dict("no-reference", expert="e11", topic="nref", reference_answer=None))
    _write(raw, submission_dict("wrong-language", expert="e12", topic="lang",
                                task={"prompt": "请分析这家公司的流动性风险并给出建议，包括现金流预测和债务到期结构的详细说明。" * 2}))
    _write(raw, submission_dict("duplicate", expert="e13", topic="topic0x",
                                submitted_at="2026-06-01T00:00:00Z"))
    empty = submission_dict("empty-criterion", expert="e14", topic="empty")
    empty["rubric"][3]["criterion"] = ""
    _write(raw, empty)
    tiny = submission_dict("tiny-criterion", expert="e15", topic="tiny")
    tiny["rubric"][4]["criterion"] = "Cites X"
    _write(raw, tiny)
    weights = submission_dict("bad-weights", expert="e16", topic="weights")
    weights["rubric"][-1]["weight"] = 10  # an Optional checkpoint heavier than Essential ones
    _write(raw, weights)
    _write(raw, points_submission(submission_id="hb-short"))  # a 4-turn chat with short turns: kept
    defs = pipeline_defs(str(raw), str(tmp_path / "assets"), str(pipeline_yaml(tmp_path / "xb.yaml")),
                         str(models_yaml(tmp_path / "models.yaml")))
    with dg.DagsterInstance.ephemeral() as inst:
        assert materialize(defs, inst, ["raw_submissions"]).success
        r = materialize(defs, inst, CURATION)
        assert r.success
        evals = r.get_asset_check_evaluations()
        assert {e.check_name for e in evals} == {"rubrics_gx_suite", "tasks_gx_suite"}
        assert all(e.passed for e in evals), [(e.check_name, e.metadata) for e in evals if not e.passed]
    read = lambda n: pd.read_parquet(tmp_path / "assets" / f"{n}.parquet")  # noqa: E731
    log = read("curation_log").set_index("submission_id")
    assert log.at["short-prompt", "rule"] == "prompt_length"
    assert log.at["no-reference", "rule"] == "reference_answer"
    assert log.at["wrong-language", "rule"] == "language"
    assert log.at["duplicate", "rule"] == "exact_duplicate"
    assert log.at["hb-short", "decision"] == "kept"
    findings = read("rubric_findings")
    errors = set(findings.loc[(findings["severity"] == "error") & findings["in_tasks"], "submission_id"])
    assert errors == {"empty-criterion", "bad-weights"}
    assert "tiny-criterion" in set(findings.loc[findings["check"] == "short_criterion", "submission_id"])
    gold = set(read("gold_tasks")["task_id"])
    assert not gold & errors and {"ok-0", "ok-1", "ok-2", "tiny-criterion", "hb-short"} <= gold
