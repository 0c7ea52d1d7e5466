"""When a candidate cannot answer at all: its scores are errors, never zeros, and nothing crashes."""

import dagster as dg
import pandas as pd

from pipelines.cli.orchestrate import run_all
from pipelines.cli.trace import trace
from tests.pipeline.helpers import pipeline_defs, models_yaml, pipeline_yaml, small_raw_folder


def test_a_model_that_always_fails_blocks_aggregates_and_is_traceable(tmp_path):
    ids = small_raw_folder(tmp_path / "raw", per_domain=1)
    # generic points at a model the provider does not have: every call fails with a 4xx.
    models = models_yaml(tmp_path / "models.yaml", extra_models={
        "generic": {"provider": "standin-openai", "model_id": "standin-missing", "max_tokens": 256}})
    res = pipeline_defs(str(tmp_path / "raw"), str(tmp_path / "assets"), str(pipeline_yaml(tmp_path / "xb.yaml")), str(models))
    lines: list[str] = []
    with dg.DagsterInstance.ephemeral() as inst:
        assert not run_all(inst, defs=res, echo=lines.append)
    assert any("model generic FAILED" in s and "all_gold_tasks_scored" in s for s in lines)
    # The failed check's figure and the next step, not only its name:
    assert any("all_gold_tasks_scored failed: 0 of 7 Gold tasks complete for generic (7 generation errors" in s
               and "Next: generation errors" in s and "read error_message in generations[generic]" in s for s in lines)
    assert any("aggregates not updated: generic" in s for s in lines)
    assets = tmp_path / "assets"
    gen = pd.read_parquet(assets / "generations" / "generic.parquet")
    assert not gen["ok"].any() and gen["error_type"].notna().all() and gen["answer"].isna().all()
    assert len(pd.read_parquet(assets / "judgements" / "generic.parquet")) == 0
    scores = pd.read_parquet(assets / "task_scores" / "generic.parquet")
    assert scores["status"].str.startswith("generation_error").all() and scores["score"].isna().all()
    assert not (assets / "leaderboard.parquet").exists()  # no leaderboard built on a failing partition
    t = trace(ids[0], "generic", assets_dir=assets, raw_dir=tmp_path / "raw")
    assert "generation_error" in t["models"]["generic"]
    ok = trace(ids[0], "oracle", assets_dir=assets, raw_dir=tmp_path / "raw")
    assert ok["models"]["oracle"]["score"]["status"] == "scored"
