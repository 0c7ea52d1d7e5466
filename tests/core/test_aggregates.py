import json

import pandas as pd
import pytest

from pipelines.config import StatsConfig
from pipelines.core import aggregates as agg

CFG = StatsConfig(bootstrap_samples=300)


def scores() -> pd.DataFrame:
    rows = []
    for i in range(12):
        dom = ["Finance", "Law", "Healthcare"][i % 3]
        for m, base in (("a", 0.8), ("b", 0.5)):
            rows.append({"task_id": f"t{i}", "model": m, "domain": dom, "category": f"cat{i % 2}",
                         "score": base + 0.01 * i, "complete": True})
    rows.append({"task_id": "t99", "model": "b", "domain": "Law", "category": "cat0", "score": None,
                 "complete": False})
    return pd.DataFrame(rows)


def verdicts(model: str, n: int, errors: int) -> pd.DataFrame:
    return pd.DataFrame({"model": model, "verdict": ["judge_error"] * errors + ["met"] * (n - errors)})


def test_leaderboard_ranks_and_excludes_models_over_the_error_limit():
    j = pd.concat([verdicts("a", 100, 10), verdicts("b", 100, 1)])
    board = agg.leaderboard(scores(), j, CFG, max_judge_error_rate=0.05)
    assert list(board["model"]) == ["b", "a"]  # a is listed last, unranked, with the reason
    assert board.set_index("model").loc["a", "rank"] == 0 and "10.0%" in board.set_index("model").loc["a", "note"]
    b = board.set_index("model").loc["b"]
    assert b["rank"] == 1 and b["tasks_complete"] == 12 and b["tasks_gold"] == 13
    assert b["ci_lo"] <= b["score"] <= b["ci_hi"]


def test_group_scores_and_table3_layout():
    dom = agg.group_scores(scores(), "domain", CFG)
    overall = dom[(dom["model"] == "a") & (dom["domain"] == "Overall")].iloc[0]
    assert overall["score"] == pytest.approx(0.8 + 0.01 * 5.5) and overall["n_tasks"] == 12
    wide = agg.domain_table_wide(dom)
    assert list(wide.columns) == ["Overall", "Finance", "Law", "Healthcare"]
    assert list(wide.index) == ["a", "b"] and wide.loc["a", "Overall"] == pytest.approx(85.5)


def test_paired_comparisons_on_shared_complete_tasks():
    p = agg.paired_comparisons(scores(), CFG).iloc[0]
    assert (p["model_a"], p["model_b"], p["shared_tasks"]) == ("a", "b", 12)
    assert p["mean_diff"] == pytest.approx(0.3) and p["excludes_zero"] and p["a_wins"] == 12


def test_met_rates_and_item_flags():
    j = pd.DataFrame({
        "task_id": ["t1"] * 4, "checkpoint_id": ["c1", "c2", "c1", "c2"], "model": ["a", "a", "b", "b"],
        "verdict": ["met", "not_met", "met", "judge_error"], "met": [True, False, True, None]})
    r = pd.DataFrame({"task_id": ["t1", "t1"], "checkpoint_id": ["c1", "c2"], "weight": [10.0, 2.0],
                      "importance": ["Essential", "Optional"], "dimension": ["Accuracy", "Other"],
                      "criterion": ["x", "y"], "domain": ["Law", "Law"]})
    cp = agg.checkpoint_frame(j, r)
    imp = agg.met_rates(cp, "importance").set_index(["model", "importance"])
    assert imp.loc[("a", "Essential"), "met_rate"] == 1.0 and imp.loc[("a", "Optional"), "met_rate"] == 0.0
    assert imp.loc[("b", "Optional"), "judge_errors"] == 1
    items = agg.rubric_item_analytics(cp).set_index("checkpoint_id")
    assert items.loc["c1", "flag"] == "every model meets" and items.loc["c2", "flag"] == "no model meets"


def test_a_group_of_judge_errors_only_is_kept_with_nan_rates():
    j = pd.DataFrame({
        "task_id": ["t1"] * 4, "checkpoint_id": ["c1", "c2", "c3", "c1"], "model": ["a", "a", "a", "b"],
        "verdict": ["met", "judge_error", "judge_error", "not_met"], "met": [True, None, None, False]})
    r = pd.DataFrame({"task_id": ["t1"] * 3, "checkpoint_id": ["c1", "c2", "c3"], "weight": [10.0, 2.0, 3.0],
                      "importance": ["Essential", "Optional", "Optional"], "dimension": ["Accuracy", "Other", "Other"],
                      "criterion": ["x", "y", "z"], "domain": ["Law"] * 3})
    dims = agg.met_rates(agg.checkpoint_frame(j, r), "dimension").set_index(["model", "dimension"])
    assert list(dims.index) == [("a", "Accuracy"), ("a", "Other"), ("b", "Accuracy")]
    other = dims.loc[("a", "Other")]
    assert other["checkpoints"] == 0 and other["judge_errors"] == 2 and other["met"] == 0
    assert pd.isna(other["met_rate"]) and pd.isna(other["weighted_met_rate"])
    assert dims.loc[("a", "Accuracy"), "met_rate"] == 1.0 and dims.loc[("b", "Accuracy"), "met_rate"] == 0.0
    assert dims["checkpoints"].dtype.kind == "i" and dims["judge_errors"].dtype.kind == "i"


def test_cost_table_counts_each_call_once():
    gens = pd.DataFrame({"model": ["a"], "call_key": ["g1"], "input_tokens": [10], "output_tokens": [5],
                         "cached_tokens": [0], "cost_usd": [0.1]})
    judge_rows = pd.DataFrame({"judge_call_key": ["j1", "j1", "j2"], "model": ["a", "a", "a"]})
    usage = {"j1": {"input_tokens": 100, "output_tokens": 20}, "j2": {"input_tokens": 50, "output_tokens": 10}}
    rows = agg.usage_rows(gens, judge_rows, "judge", lambda i, o, c, w, batch=False: (i + o) / 1000, usage)
    cost = agg.cost_table(rows).set_index("role")
    assert cost.loc["judge", "calls"] == 2 and cost.loc["judge", "input_tokens"] == 150
    assert cost.loc["judge", "cost_usd"] == pytest.approx(0.18) and cost.loc["candidate", "calls"] == 1


def test_cost_table_keeps_uncached_cache_read_and_cache_write_apart():
    """Usage rows record uncached input, cache reads, cache writes and output apart; each is priced at its
    own rate (the judge's ModelConfig.cost_usd) and the table shows each sum."""
    from pipelines.llm.config import ModelConfig

    judge = ModelConfig(provider="p", model_id="j", price_input_per_mtok=2.0, price_output_per_mtok=8.0,
                        input_cached_per_mtok=0.2, cache_write_per_mtok=2.5)
    gens = pd.DataFrame({"model": ["a"], "call_key": ["g1"], "input_tokens": [10], "output_tokens": [5],
                         "cached_tokens": [4], "cache_write_tokens": [0], "cost_usd": [0.1]})
    judge_rows = pd.DataFrame({"judge_call_key": ["j1", "j2"], "model": ["a", "a"]})
    usage = {"j1": {"input_tokens": 1000, "output_tokens": 100, "cached_tokens": 0, "cache_write_tokens": 800},
             "j2": {"input_tokens": 1000, "output_tokens": 100, "cached_tokens": 800, "cache_write_tokens": 0}}
    cost = agg.cost_table(agg.usage_rows(gens, judge_rows, "judge", judge.cost_usd, usage)).set_index("role")
    j = cost.loc["judge"]
    assert (j["input_tokens"], j["uncached_input_tokens"], j["cached_tokens"], j["cache_write_tokens"],
            j["output_tokens"]) == (2000, 400, 800, 800, 200)
    assert j["cost_usd"] == pytest.approx((400 * 2.0 + 800 * 0.2 + 800 * 2.5 + 200 * 8.0) / 1e6)
    assert cost.loc["candidate", "uncached_input_tokens"] == 6


def test_judge_calls_answered_in_a_batch_are_priced_at_the_batch_discount():
    """A judge call stored with mode: batch costs batch_discount x its synchronous price in the cost table."""
    from pipelines.llm.config import ModelConfig

    judge = ModelConfig(provider="p", model_id="j", price_input_per_mtok=2.0, price_output_per_mtok=8.0,
                        batch_discount=0.5)
    gens = pd.DataFrame({"model": ["a"], "call_key": ["g1"], "input_tokens": [10], "output_tokens": [5],
                         "cached_tokens": [0], "cost_usd": [0.1]})
    judge_rows = pd.DataFrame({"judge_call_key": ["j1", "j2"], "model": ["a", "a"]})
    usage = {"j1": {"input_tokens": 1000, "output_tokens": 100},
             "j2": {"input_tokens": 1000, "output_tokens": 100, "mode": "batch", "batch_id": "b1"}}
    rows = agg.usage_rows(gens, judge_rows, "judge", judge.cost_usd, usage).set_index("call_key")
    sync = (1000 * 2.0 + 100 * 8.0) / 1e6
    assert rows.loc["j1", "cost_usd"] == pytest.approx(sync) and rows.loc["j1", "mode"] == "sync"
    assert rows.loc["j2", "cost_usd"] == pytest.approx(sync * 0.5) and rows.loc["j2", "batch_id"] == "b1"


def test_task_sub_scores_are_json():
    from pipelines.core.task_scoring import score_tasks

    v = pd.DataFrame({"task_id": ["t1"] * 2, "checkpoint_id": ["c1", "c2"], "met": [True, None],
                      "judge_config": ["jc", "jc"]})
    r = pd.DataFrame({"task_id": ["t1"] * 2, "checkpoint_id": ["c1", "c2"], "weight": [10.0, 2.0],
                      "importance": ["Essential", "Optional"], "dimension": ["A", "B"], "rubric_hash": ["h", "h"]})
    g = pd.DataFrame({"task_id": ["t1", "t2"], "ok": [True, False], "error_type": [None, "timeout"]})
    gold = pd.DataFrame({"task_id": ["t1", "t2"], "domain": ["Law", "Law"]})
    out = score_tasks(v, r, g, gold, "m", max_error_share=0.6).set_index("task_id")
    assert out.loc["t1", "score"] == 1.0 and out.loc["t1", "n_judge_errors"] == 1
    assert json.loads(out.loc["t1", "by_importance"]) == {"Essential": 1.0, "Optional": None}
    assert out.loc["t2", "status"] == "generation_error: timeout" and pd.isna(out.loc["t2", "score"])


def test_points_rubric_task_scores_use_the_healthbench_rule():
    from pipelines.core.task_scoring import score_tasks

    v = pd.DataFrame({"task_id": ["h1"] * 3, "checkpoint_id": ["r0", "r1", "r2"], "met": [False, True, True],
                      "judge_config": ["jc"] * 3})
    r = pd.DataFrame({"task_id": ["h1"] * 3, "checkpoint_id": ["r0", "r1", "r2"], "weight": [None] * 3,
                      "points": [5.0, 2.0, -9.0], "importance": [None] * 3, "dimension": [None] * 3,
                      "rubric_hash": ["h"] * 3})
    g = pd.DataFrame({"task_id": ["h1"], "ok": [True], "error_type": [None]})
    gold = pd.DataFrame({"task_id": ["h1"], "domain": ["Healthcare"], "benchmark": ["healthbench"]})
    out = score_tasks(v, r, g, gold, "m", max_error_share=0.2).set_index("task_id")
    assert out.loc["h1", "score"] == pytest.approx((2 - 9) / 7)  # unclipped per example
    assert out.loc["h1", "rubric_kind"] == "points" and out.loc["h1", "benchmark"] == "healthbench"


def test_leaderboard_is_per_benchmark_and_clips_only_the_points_mean():
    from pipelines.config import StatsConfig

    scores = pd.DataFrame({
        "model": ["a"] * 4, "task_id": ["x1", "x2", "h1", "h2"], "complete": [True] * 4,
        "status": ["scored"] * 4, "score": [0.9, 0.7, -1.0, 0.6],
        "benchmark": ["xpertbench", "xpertbench", "healthbench", "healthbench"],
        "rubric_kind": ["weighted", "weighted", "points", "points"]})
    judg = pd.DataFrame({"model": ["a"], "task_id": ["x1"], "verdict": ["met"]})
    board = agg.leaderboard(scores, judg, StatsConfig(), 0.5).set_index("benchmark")
    assert board.loc["xpertbench", "score"] == pytest.approx(0.8)
    assert board.loc["healthbench", "score"] == 0.0  # mean -0.2, clipped at the aggregate only
    assert 0.0 <= board.loc["healthbench", "ci_lo"] <= board.loc["healthbench", "ci_hi"] <= 1.0
    assert (board["rank"] == 1).all()
