"""A candidate and judge in mode: batch materialise the same generations, judgements and scores as sync mode.

Both runs talk to one stand-in server through kind openai providers (the real SDK's files and
batches resources in batch mode); each has its own assets folder, so its own call store.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import yaml

from pipelines.cli.orchestrate import run_all
from pipelines.llm import StandinServer
from tests.pipeline.helpers import pipeline_defs, pipeline_yaml, small_raw_folder


def _models(path: Path, base_url: str, mode: str) -> Path:
    prov = {"kind": "openai", "base_url": base_url + "/v1", "needs_key": False, "max_concurrency": 8,
            "timeout_s": 10, "deadline_s": 60, "max_retries": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.05,
            # A short real poll interval: the pipeline runs on the real clock; the stand-in ends a
            # batch after a number of polls, not after a duration.
            "mode": mode, "batch_poll_s": 0.01}
    doc = {"version": "test", "providers": {"api": prov},
           "models": {"generic": {"provider": "api", "model_id": "standin-generic", "max_tokens": 2048},
                      "standin-judge": {"provider": "api", "model_id": "standin-judge", "max_tokens": 4096}},
           "candidates": ["generic"], "judge": "standin-judge"}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _run(root: Path, raw: Path, base_url: str, mode: str) -> Path:
    root.mkdir(parents=True)
    defs = pipeline_defs(str(raw), str(root / "assets"), str(pipeline_yaml(root / "xb.yaml")),
                         str(_models(root / "models.yaml", base_url, mode)))
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_all(instance, defs=defs, echo=lambda s: None)
    return root / "assets"


def test_batch_mode_candidate_and_judge_score_as_sync_mode(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    small_raw_folder(raw, per_domain=1)
    with StandinServer() as server:
        server.batches.configure(complete_after_polls=2)
        sync = _run(tmp_path / "sync", raw, server.base_url, "sync")
        assert server.batches.stats()["created"] == {}
        batch = _run(tmp_path / "batch", raw, server.base_url, "batch")
        created = server.batches.stats()["created"]
    # One batch for the generations, at least one for the judge (agreement study and grading).
    assert created.get("openai", 0) >= 2

    gen_s, gen_b = (pd.read_parquet(d / "generations" / "generic.parquet") for d in (sync, batch))
    assert set(gen_s["mode"]) == {"sync"} and set(gen_b["mode"]) == {"batch"} and gen_b["batch_id"].notna().all()
    same = ["task_id", "answer", "model_reported", "input_tokens", "output_tokens", "call_key"]
    pd.testing.assert_frame_equal(gen_s[same].sort_values("task_id").reset_index(drop=True),
                                  gen_b[same].sort_values("task_id").reset_index(drop=True))
    cols = ["task_id", "checkpoint_id", "verdict", "judge_call_key", "judge_model_reported"]
    jd_s, jd_b = (pd.read_parquet(d / "judgements" / "generic.parquet") for d in (sync, batch))
    key = ["task_id", "checkpoint_id"]
    pd.testing.assert_frame_equal(jd_s[cols].sort_values(key).reset_index(drop=True),
                                  jd_b[cols].sort_values(key).reset_index(drop=True))
    sc_s, sc_b = (pd.read_parquet(d / "task_scores" / "generic.parquet") for d in (sync, batch))
    pd.testing.assert_frame_equal(sc_s.sort_values("task_id").reset_index(drop=True)[["task_id", "score"]],
                                  sc_b.sort_values("task_id").reset_index(drop=True)[["task_id", "score"]])
    board_s, board_b = (pd.read_parquet(d / "leaderboard.parquet") for d in (sync, batch))
    assert board_s["score"].tolist() == board_b["score"].tolist()
