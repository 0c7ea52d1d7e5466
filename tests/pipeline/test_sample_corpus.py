"""The committed corpus, curated with Dagster: every flawed file is caught for its own reason."""

import json
from collections import Counter
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pipelines.config import GoldConfig
from pipelines.core.gold import allocate
from pipelines.definitions import build_definitions
from pipelines.settings import Settings
from pipelines.cli.orchestrate import CURATION, materialize
from pipelines.paths import DEFAULT_RAW_DIR as RAW_SUBMISSIONS_DIR

QUARANTINE_REASON = {  # generated file name -> expected reason
    "bad_anchor_mismatch": "anchor_mismatch", "bad_duplicate_checkpoint_ids": "duplicate_checkpoint_id",
    "bad_duplicate_submission_id": "duplicate_submission_id", "bad_empty": "empty_file",
    "bad_encoding_latin1": "bad_encoding", "bad_invalid_json": "invalid_json", "bad_missing_field": "missing_field",
    "bad_nan_weight": "invalid_weight", "bad_not_an_object": "not_an_object", "bad_oversized": "file_too_large",
    "bad_unknown_dimension": "unknown_dimension", "bad_unknown_domain": "unknown_domain",
    "bad_unknown_field": "unknown_field", "bad_weight_out_of_range": "invalid_weight",
    "bad_wrong_type": "wrong_type",
}
CURATION_RULE = {
    "xb-flaw-cap": "expert_cap", "xb-flaw-component": "missing_component", "xb-flaw-noref": "reference_answer",
    "xb-flaw-language": "language", "xb-flaw-exact": "exact_duplicate", "xb-flaw-near": "near_duplicate",
}


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    res = build_definitions(Settings.load(raw_dir=RAW_SUBMISSIONS_DIR, assets_dir=d, env={}))
    with dg.DagsterInstance.ephemeral() as inst:
        assert materialize(res, inst, ["raw_submissions"]).success
        r = materialize(res, inst, CURATION)
        assert r.success
        assert all(e.passed for e in r.get_asset_check_evaluations())
    return d


def read(d, name):
    return pd.read_parquet(d / f"{name}.parquet")


def test_every_malformed_file_is_quarantined_for_its_reason(out):
    q = read(out, "submission_quarantine")
    got = {Path(p).stem: r for p, r in zip(q["source_path"], q["reason"])}
    assert got == QUARANTINE_REASON
    assert q["message"].str.len().gt(0).all() and q["source_sha256"].str.len().eq(64).all()


def test_every_curation_rule_drops_its_flawed_submission(out):
    log = read(out, "curation_log").set_index("submission_id")
    for sid, rule in CURATION_RULE.items():
        assert log.at[sid, "decision"] == "dropped" and log.at[sid, "rule"] == rule, sid
    # The difficulty screen needs scores exported from a real run (raw_submissions/README.md); the
    # corpus ships none, so the easy task is kept and the log says why the rule did not apply.
    assert log.at["xb-flaw-too-easy", "decision"] == "kept"
    assert "difficulty screen inactive" in log.at["xb-flaw-too-easy", "detail"]
    subs = read(out, "submissions")
    assert len(log) == len(subs)  # one decision per valid submission, nothing lost
    paper = [s for s in log.index if s.startswith("xb-paper-")]
    assert len(paper) == 5 and (log.loc[paper, "rule"] == "reference_answer").all()  # the paper prints none


def test_rubric_errors_keep_tasks_out_of_gold(out):
    f = read(out, "rubric_findings")
    errors = f[f["severity"] == "error"]
    assert set(errors["submission_id"]) == {"xb-flaw-rubric-mismatch", "xb-flaw-weights", "xb-paper-a3"}
    gold = read(out, "gold_tasks")
    assert not set(gold["task_id"]) & set(errors["submission_id"])


def test_gold_is_proportional_and_stratified(out):
    tasks, f, gold = read(out, "tasks"), read(out, "rubric_findings"), read(out, "gold_tasks")
    eligible = tasks[~tasks["task_id"].isin(f.loc[f["severity"] == "error", "submission_id"])]
    cfg = GoldConfig()
    expected = allocate(eligible["domain"].value_counts().to_dict(), -(-len(eligible) // 2), cfg.min_per_domain)
    assert gold["domain"].value_counts().to_dict() == expected
    assert len(gold) < len(eligible)  # the default shows sampling at work


def test_sample_corpus_meets_its_brief():
    files = sorted((RAW_SUBMISSIONS_DIR / "sample").glob("*/*.json"))
    docs = [json.loads(p.read_text()) for p in files]
    assert len(docs) >= 56
    assert min(Counter(d["domain"] for d in docs).values()) >= 8
    assert all(15 <= len(d["rubric"]) <= 40 for d in docs)
    anchored = [d for d in docs if d.get("anchor")]
    assert len(anchored) >= 2 * len(docs) / 3
    misses = [sum(v["verdict"] == "not_met" for v in d["anchor"]["verdicts"]) for d in anchored]
    assert all(m >= 1 for m in misses)
    assert all(len(d["anchor"]["verdicts"]) == len(d["rubric"]) for d in anchored)
    cats = {(d["domain"], d["category"]) for d in docs}
    assert len(cats) >= 28  # spread over the paper's 32 sub-categories


def test_curation_in_memory_gives_the_materialised_tasks_and_gold(out):
    """What `xpertbench estimate` and the window preflight use before (or instead of) the assets."""
    from pipelines.core.curation_plan import curate_in_memory

    kept, gold_ids = curate_in_memory(RAW_SUBMISSIONS_DIR, Settings.load(raw_dir=RAW_SUBMISSIONS_DIR, env={}).pipeline)
    tasks = read(out, "tasks")
    assert list(kept) == list(tasks["task_id"])
    assert {t: s.model_dump_json() for t, s in kept.items()} == dict(zip(tasks["task_id"], tasks["payload_json"]))
    assert gold_ids == list(read(out, "gold_tasks")["task_id"])
