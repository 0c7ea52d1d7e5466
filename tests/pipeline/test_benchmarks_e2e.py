"""Real rubric benchmarks end to end (issue 10, item 6): a HealthBench-format benchmark with its
meta-evaluation labels and a spreadsheet-authored task go through `xpertbench import`, curation, Gold,
generation, judging, scoring, agreement and the report, beside XpertBench sample tasks, in real Dagster
runs on the stand-in models. Benchmarks are reported side by side and never averaged together."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from pipelines.cli import main as cli
from pipelines.cli.orchestrate import CURATION, materialize, run_all
from pipelines.core.scoring import healthbench_score
from pipelines.llm.store import CallStore
from pipelines.paths import DEFAULT_RAW_DIR
from tests.pipeline.helpers import models_yaml, pipeline_defs, pipeline_yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "healthbench"
TEMPLATE = DEFAULT_RAW_DIR / "templates" / "task_template.xlsx"
SAMPLES = ("hc", "fin")  # XpertBench sample tasks of two domains (Healthcare shared with HealthBench)


def xb_samples(raw: Path) -> None:
    for dom in SAMPLES:
        shutil.copytree(DEFAULT_RAW_DIR / "sample" / dom, raw / "sample" / dom)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    raw = root / "raw"
    xb_samples(raw)
    assert cli(["import", "healthbench", str(FIXTURES / "healthbench_sample.jsonl"), "--name", "healthbench",
                "--meta-eval", str(FIXTURES / "meta_eval_sample.jsonl"), "--raw-dir", str(raw)]) == 0
    assert cli(["import", "sheet", str(TEMPLATE), "--raw-dir", str(raw)]) == 0
    defs = pipeline_defs(str(raw), str(root / "assets"), str(pipeline_yaml(root / "xb.yaml")),
                         str(models_yaml(root / "models.yaml")))
    with dg.DagsterInstance.ephemeral() as instance:
        ok = run_all(instance, defs=defs, echo=lambda s: None)
        yield {"ok": ok, "dir": root / "assets", "root": root, "instance": instance}


def read(run, name, part=None) -> pd.DataFrame:
    return pd.read_parquet(run["dir"] / (f"{name}/{part}.parquet" if part else f"{name}.parquet"))


def test_run_succeeds_with_every_check_passing(run):
    assert run["ok"]
    inst = run["instance"]
    for check, asset in [("rubrics_gx_suite", "rubrics"), ("tasks_gx_suite", "tasks")]:
        key = dg.AssetCheckKey(dg.AssetKey(asset), check)
        assert inst.event_log_storage.get_latest_asset_check_execution_by_key([key])[key].status.value == "SUCCEEDED"


def test_curation_routes_meta_eval_sets_and_drops_single_tasks_only(run):
    log = read(run, "curation_log").set_index("submission_id")
    meta = log[log["decision"] == "meta_eval"]
    assert len(meta) == 3 and (meta["rule"] == "meta_eval_set").all()
    # A conversation in Chinese script declared 'en' by the importer: dropped for its language, run goes on.
    assert (log.at["healthbench-hb-zh-01", "decision"], log.at["healthbench-hb-zh-01", "rule"]) == ("dropped", "language")
    assert log.at["xb-fin-sheet-001", "decision"] == "kept"


def test_gold_is_per_benchmark(run):
    gold = read(run, "gold_tasks")
    assert set(gold["benchmark"]) == {"xpertbench", "healthbench"}
    assert "xb-fin-sheet-001" in set(gold["task_id"])


def _gold(tmp_path, with_healthbench: bool) -> pd.DataFrame:
    raw = tmp_path / "raw"
    xb_samples(raw)
    if with_healthbench:
        assert cli(["import", "healthbench", str(FIXTURES / "healthbench_sample.jsonl"), "--name", "healthbench",
                    "--raw-dir", str(raw)]) == 0
    defs = pipeline_defs(str(raw), str(tmp_path / "assets"), str(pipeline_yaml(tmp_path / "xb.yaml", gold={"share": 0.5})),
                         str(models_yaml(tmp_path / "models.yaml")))
    with dg.DagsterInstance.ephemeral() as inst:
        assert materialize(defs, inst, ["raw_submissions"]).success
        assert materialize(defs, inst, CURATION).success
    return pd.read_parquet(tmp_path / "assets" / "gold_tasks.parquet")


def test_adding_healthbench_leaves_the_xpertbench_gold_unchanged(tmp_path):
    alone = _gold(tmp_path / "alone", False)
    both = _gold(tmp_path / "both", True)
    assert 0 < len(alone) < 16  # sampling at work, in the Healthcare stratum HealthBench shares
    assert sorted(both.loc[both["benchmark"] == "xpertbench", "task_id"]) == sorted(alone["task_id"])
    assert (both["benchmark"] == "healthbench").sum() > 0


def _store(run) -> CallStore:
    return CallStore(run["dir"] / "llm_calls.sqlite")


def test_candidates_get_the_conversation_and_the_judge_a_transcript(run):
    gens = read(run, "generations", "oracle").set_index("task_id")
    judged = read(run, "judgements", "oracle")
    tid = "healthbench-hb-mt-01"  # system turn + three user/assistant turns
    with _store(run) as store:
        req = store.get(gens.at[tid, "call_key"]).request
        assert req["system"] == "You are a helpful assistant for a telehealth service."
        assert [m["role"] for m in req["messages"]] == ["user", "assistant", "user"]
        key = judged.loc[judged["task_id"] == tid, "judge_call_key"].iloc[0]
        prompt = store.get(key).request["messages"][-1]["content"]
    assert "The task is a conversation" in prompt
    assert prompt.index("[system]\nYou are a helpful") < prompt.index("[assistant]\nI'm sorry") \
        < prompt.index("[user]\nFour days")
    assert '"polarity": "penalty"' in prompt and "DOES" in prompt  # penalty criteria explained


def test_points_tasks_are_scored_by_the_healthbench_rule(run):
    rub = read(run, "rubrics").set_index(["task_id", "checkpoint_id"])
    for model in ("oracle", "partial", "generic"):
        scores = read(run, "task_scores", model)
        judged = read(run, "judgements", model)
        hb = scores[scores["benchmark"] == "healthbench"]
        assert len(hb) and (hb["rubric_kind"] == "points").all()
        for row in hb.itertuples():
            j = judged[judged["task_id"] == row.task_id]
            pts = [rub.at[(row.task_id, c), "points"] for c in j["checkpoint_id"]]
            met = [None if v == "judge_error" else v == "met" for v in j["verdict"]]
            assert row.score == pytest.approx(healthbench_score(pts, met))
        assert (scores.loc[scores["benchmark"] == "xpertbench", "rubric_kind"] == "weighted").all()


def test_leaderboards_and_domain_scores_per_benchmark_never_pooled(run):
    board = read(run, "leaderboard")
    assert set(board["benchmark"]) == {"xpertbench", "healthbench"}
    for bench, g in board.groupby("benchmark"):
        assert sorted(g["rank"]) == [1, 2, 3]
    scores = pd.concat([read(run, "task_scores", m) for m in ("oracle", "partial", "generic")])
    hb = scores[(scores["benchmark"] == "healthbench") & scores["complete"]]
    lb = board.set_index(["benchmark", "model"])
    for m, g in hb.groupby("model"):
        assert lb.at[("healthbench", m), "score"] == pytest.approx(float(np.clip(g["score"].mean(), 0, 1)))
    dom = read(run, "domain_scores")
    xb_hc = dom[(dom["benchmark"] == "xpertbench") & (dom["domain"] == "Healthcare") & (dom["model"] == "oracle")]
    gold = read(run, "gold_tasks")
    assert xb_hc["n_tasks"].iloc[0] == ((gold["benchmark"] == "xpertbench") & (gold["domain"] == "Healthcare")).sum()
    pairs = read(run, "paired_comparisons")
    assert set(pairs["benchmark"]) == {"xpertbench", "healthbench"}


def test_meta_eval_labels_produce_agreement_figures(run):
    ag = read(run, "judge_agreement")
    hb = ag[(ag["benchmark"] == "healthbench") & (ag["scope"] == "Overall")].set_index("judge_mode")
    labels = [json.loads(x) for x in (FIXTURES / "meta_eval_sample.jsonl").read_text().splitlines()]
    assert hb.at["zeroshot", "n_labels"] == sum(len(x["binary_labels"]) for x in labels)
    assert hb.at["zeroshot", "n_checkpoints"] == len(labels)
    for mode in ("zeroshot", "shotjudge", "graders_vs_graders"):
        assert mode in hb.index
        assert -1 <= hb.at[mode, "cdr"] <= 1 and 0 <= hb.at[mode, "agreement"] <= 1
    assert not np.isnan(hb.at["zeroshot", "healthbench_f1"])
    anchors = read(run, "anchor_judgements")
    assert set(anchors.loc[anchors["benchmark"] == "healthbench", "grader_id"]) >= {"phys-01", "phys-05"}


def test_report_has_a_section_per_benchmark(run):
    html = (run["dir"] / "report" / "report.html").read_text()
    for heading in ("Scores by domain: xpertbench", "Scores by domain: healthbench", "Judge agreement with experts"):
        assert heading in html
    assert "healthbench_f1" in html
