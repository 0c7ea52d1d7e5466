"""The whole pipeline materialised with Dagster into temporary folders, on stand-in models."""

import dagster as dg
import pandas as pd
import pytest

from pipelines.cli.orchestrate import run_all
from tests.pipeline.helpers import pipeline_defs, models_yaml, pipeline_yaml, small_raw_folder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    ids = small_raw_folder(root / "raw", per_domain=2)
    res = pipeline_defs(str(root / "raw"), str(root / "assets"), str(pipeline_yaml(root / "xb.yaml")), str(models_yaml(root / "models.yaml")))
    with dg.DagsterInstance.ephemeral() as instance:
        ok = run_all(instance, defs=res, echo=lambda s: None)
        yield {"ok": ok, "dir": root / "assets", "ids": ids, "instance": instance}


def read(run, name, part=None):
    p = run["dir"] / (f"{name}/{part}.parquet" if part else f"{name}.parquet")
    return pd.read_parquet(p)


def test_run_succeeds_and_checks_pass(run):
    assert run["ok"]
    inst = run["instance"]
    for check, asset in [("rubrics_gx_suite", "rubrics"), ("tasks_gx_suite", "tasks")]:
        rec = inst.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey(asset), check)])
        assert rec[dg.AssetCheckKey(dg.AssetKey(asset), check)].status.value == "SUCCEEDED"


def test_generations_one_row_per_gold_task_and_model(run):
    gold = read(run, "gold_tasks")
    assert len(gold) == len(run["ids"]) == 14
    for m, reported in [("oracle", "standin-oracle"), ("partial", "standin-partial"), ("generic", "standin-generic")]:
        g = read(run, "generations", m)
        assert sorted(g["task_id"]) == sorted(gold["task_id"])
        assert g["ok"].all() and g["answer"].str.len().gt(0).all()
        assert g["model_reported"].str.startswith(reported).all()  # the id the API returned
        assert g["call_key"].str.fullmatch(r"[0-9a-f]{64}").all()
        assert g["prompt_template_hash"].nunique() == 1


def test_judgements_cover_every_checkpoint_three_state(run):
    rubrics = read(run, "rubrics")
    for m in ("oracle", "partial", "generic"):
        j = read(run, "judgements", m)
        assert len(j) == len(rubrics)
        assert set(j["verdict"]) <= {"met", "not_met", "judge_error"}
        assert (j["judge_mode"] == "shotjudge").all() and (j["example_task_id"] == j["task_id"]).all()
        assert j["judge_config"].nunique() == 1


def test_scores_order_the_stand_ins(run):
    board = read(run, "leaderboard").set_index("model")
    assert board.loc["oracle", "score"] > board.loc["partial", "score"] > board.loc["generic", "score"]
    assert list(read(run, "leaderboard")["rank"]) == [1, 2, 3]
    s = read(run, "task_scores", "oracle")
    assert s["complete"].all() and (s["score"] <= 1).all()
    row = s.iloc[0]
    assert row["score"] == pytest.approx(row["weight_met"] / row["weight_judged"])


def test_agreement_uses_another_tasks_example(run):
    aj = read(run, "anchor_judgements")
    shot = aj[aj["judge_mode"] == "shotjudge"]
    assert len(shot) and (shot["example_task_id"] != shot["task_id"]).all()
    dom = read(run, "gold_tasks").set_index("task_id")["domain"]
    assert (shot["example_task_id"].map(dom) == shot["task_id"].map(dom)).all()
    ag = read(run, "judge_agreement")
    assert set(ag["judge_mode"]) == {"shotjudge", "zeroshot"}
    overall = ag[(ag["scope"] == "Overall") & (ag["judge_mode"] == "shotjudge")].iloc[0]
    assert overall["n_tasks"] == 14 and 0 <= overall["agreement"] <= 1
    assert overall["cdr"] == pytest.approx(2 * overall["agreement"] - 1)
    assert overall["agreement_lo"] <= overall["agreement"] <= overall["agreement_hi"]


def test_aggregate_tables(run):
    dom = read(run, "domain_scores")
    assert set(dom["domain"]) == {*read(run, "gold_tasks")["domain"], "Overall"}
    pairs = read(run, "paired_comparisons").set_index(["model_a", "model_b"])
    assert pairs.loc[("generic", "oracle"), "excludes_zero"]
    assert len(read(run, "importance_scores")) and len(read(run, "dimension_scores"))
    cost = read(run, "cost_table")
    assert set(cost["role"]) == {"candidate", "judge"}
    assert (cost[cost["role"] == "candidate"]["calls"] == 14).all()


def test_report_is_self_contained(run):
    html = (run["dir"] / "report" / "report.html").read_text()
    for heading in ("Leaderboard", "Scores by domain", "Judge agreement with experts", "Paired comparisons",
                    "Lineage", "Configuration used"):
        assert heading in html
    assert html.count("data:image/png;base64,") >= 3
    assert "http://" not in html and "https://" not in html  # nothing fetched when opened offline
    md = (run["dir"] / "report" / "report.md").read_text()
    assert "## Leaderboard" in md and (run["dir"] / "report" / "images").is_dir()


def test_run_one_model_skips_aggregates_until_all_partitions_exist(tmp_path):
    small_raw_folder(tmp_path / "raw", per_domain=1)
    res = pipeline_defs(str(tmp_path / "raw"), str(tmp_path / "assets"), str(pipeline_yaml(tmp_path / "xb.yaml")), str(models_yaml(tmp_path / "models.yaml")))
    lines: list[str] = []
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_all(instance, models=["oracle"], defs=res, echo=lines.append)
    assert (tmp_path / "assets" / "task_scores" / "oracle.parquet").exists()
    assert not (tmp_path / "assets" / "generations" / "partial.parquet").exists()
    assert not (tmp_path / "assets" / "leaderboard.parquet").exists()
    assert any("aggregates skipped" in s and "generic, partial" in s for s in lines)


def test_estimate_after_a_run_finds_every_call_in_the_store(run, tmp_path):
    from pipelines.cli.estimate import plan
    from pipelines.llm.config import load_models_config
    from pipelines.llm.runner import LLMRunner

    root = run["dir"].parent
    from pipelines.settings import Settings

    s = Settings.load(raw_dir=root / "raw", assets_dir=run["dir"], config=root / "xb.yaml", models=root / "models.yaml", env={})
    requests, placeholders, in_memory = plan(s)
    assert not in_memory  # curation is materialised: its tasks and Gold are read
    est = LLMRunner(load_models_config(root / "models.yaml"), run["dir"] / "llm_calls.sqlite", progress=False).estimate(requests)
    # 3 x 14 generations, 3 x 14 judge calls, 14 anchors x 2 modes: the estimate builds the same keys.
    assert placeholders == 0 and est.requests == 3 * 14 + 3 * 14 + 2 * 14
    assert est.calls_needed == 0 and est.store_hits == est.requests
