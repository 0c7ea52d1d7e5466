"""Benchmark sources side by side: never pooled; conversations reach candidates as conversations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.config import StatsConfig
from pipelines.core import aggregates as agg
from pipelines.core.prompts import GENERATION_SYSTEM, generation_requests
from pipelines.core.submission import Submission
from tests.core.factories import make
from tests.core.test_schema_1_1 import points_submission

CFG = StatsConfig(bootstrap_samples=200)


def _scores() -> pd.DataFrame:
    rows = []
    for i in range(8):
        rows.append({"task_id": f"x{i}", "model": "m", "domain": "Healthcare", "category": "c", "score": 0.9,
                     "complete": True, "benchmark": "xpertbench", "rubric_kind": "weighted"})
        # Points tasks can score below 0 per task (penalties); only the mean is clipped.
        rows.append({"task_id": f"h{i}", "model": "m", "domain": "Healthcare", "category": None,
                     "score": -0.5 if i < 6 else 0.4, "complete": True, "benchmark": "healthbench",
                     "rubric_kind": "points"})
    return pd.DataFrame(rows)


def test_domain_scores_keep_benchmarks_apart_and_clip_points_means():
    dom = agg.group_scores(_scores(), "domain", CFG).set_index(["benchmark", "domain"])
    assert dom.at[("xpertbench", "Healthcare"), "score"] == pytest.approx(0.9)
    assert dom.at[("xpertbench", "Healthcare"), "n_tasks"] == 8
    assert dom.at[("healthbench", "Healthcare"), "score"] == 0.0  # mean -0.275, clipped
    assert np.isclose(dom.at[("healthbench", "Overall"), "score"], 0.0)


def test_leaderboard_and_pairs_per_benchmark():
    s = pd.concat([_scores(), _scores().assign(model="n", score=lambda d: d["score"] - 0.1)])
    board = agg.leaderboard(s, pd.DataFrame({"model": [], "verdict": []}), CFG, 0.05)
    assert set(board["benchmark"]) == {"xpertbench", "healthbench"}
    pairs = agg.paired_comparisons(s, CFG)
    assert sorted(pairs["benchmark"]) == ["healthbench", "xpertbench"]
    assert (pairs["shared_tasks"] == 8).all()


def test_table3_layout_per_benchmark():
    dom = agg.group_scores(_scores(), "domain", CFG)
    assert agg.domain_table_wide(dom).loc["m", "Overall"] == pytest.approx(90.0)
    assert agg.domain_table_wide(dom, "healthbench").loc["m", "Overall"] == 0.0


def test_a_conversation_is_sent_as_a_conversation():
    hb = Submission.model_validate(points_submission())
    xb = make("t-xb")
    reqs = {r.tags["task_id"]: r for r in generation_requests({"hb-001": hb, "t-xb": xb}, "m", "gen-v1", 1)}
    r = reqs["hb-001"]
    assert r.system == "You are a helpful assistant."
    assert r.messages == [{"role": "user", "content": "My father fainted."},
                          {"role": "assistant", "content": "Is he breathing?"},
                          {"role": "user", "content": "Yes, what now?"}]
    assert reqs["t-xb"].system == GENERATION_SYSTEM and reqs["t-xb"].template_hash != r.template_hash
