"""Rerun only what changed, proven by counting the calls the stand-in server receives.

Each step runs the real `xpertbench` command in a fresh process (as a user would), with the
stand-in provider served from this test process so that every request can be counted.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipelines.llm.standin_server import StandinServer
from tests.pipeline.helpers import models_yaml, pipeline_yaml, small_raw_folder

JUDGE_ID = "standin-judge"
N_TASKS = 14  # 2 per domain, all in Gold, all anchored


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    ids = small_raw_folder(root / "raw", per_domain=2)
    home = root / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with StandinServer() as server:
        e = {**os.environ, "XPERTBENCH_RAW_DIR": str(root / "raw"), "XPERTBENCH_ASSETS_DIR": str(root / "assets"),
             "XPERTBENCH_MODELS": str(models_yaml(root / "models.yaml", base_url=server.base_url)),
             "XPERTBENCH_CONFIG": str(pipeline_yaml(root / "xb.yaml")), "DAGSTER_HOME": str(home)}
        yield {"env": e, "root": root, "server": server, "ids": ids}


def xb(env, *args: str) -> str:
    p = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], env=env["env"], capture_output=True,
                       text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout


def calls(env) -> dict[str, int]:
    """Model requests received since the last call, split into candidate and judge calls."""
    log = [e for e in env["server"].request_log() if "model" in e]
    env["server"].reset()
    judge = sum(1 for e in log if e["model"] == JUDGE_ID)
    return {"candidate": len(log) - judge, "judge": judge}


def table(env, name: str, part: str) -> pd.DataFrame:
    return pd.read_parquet(env["root"] / "assets" / name / f"{part}.parquet")


def test_first_run_pays_for_every_call(env):
    out = xb(env, "run")
    assert "Leaderboard" in out
    # 3 candidates x 14 tasks; judge: 3 x 14 candidate answers + 14 anchors x (ShotJudge + zero-shot)
    assert calls(env) == {"candidate": 3 * N_TASKS, "judge": 3 * N_TASKS + 2 * N_TASKS}


def test_rerun_with_nothing_changed_sends_nothing(env):
    out = xb(env, "refresh")
    assert "nothing stale or missing" in out
    assert "materialising" not in out
    assert calls(env) == {"candidate": 0, "judge": 0}


def test_editing_one_submission_calls_only_for_that_task(env):
    before = {m: table(env, "generations", m) for m in ("oracle", "partial", "generic")}
    path = env["root"] / "raw" / "t-covenant-0.json"
    doc = json.loads(path.read_text())
    doc["task"]["deliverables"] += " Add a one-line executive summary."
    path.write_text(json.dumps(doc, indent=1))
    xb(env, "refresh")
    # 3 candidates answer the edited task again; the judge grades those 3 answers, the task's anchor
    # (ShotJudge + zero-shot), and the sibling task whose worked example is the edited task's anchor.
    assert calls(env) == {"candidate": 3, "judge": 3 + 2 + 1}
    for m, old in before.items():
        new = table(env, "generations", m)
        changed = set(new.merge(old, on="task_id", suffixes=("", "_old"))
                      .query("call_key != call_key_old")["task_id"])
        assert changed == {"t-covenant-0"}
    assert "nothing stale" in xb(env, "refresh") and calls(env) == {"candidate": 0, "judge": 0}


def test_adding_a_model_runs_only_its_partitions(env):
    root = env["root"]
    mtimes = {m: (root / "assets" / "generations" / f"{m}.parquet").stat().st_mtime for m in ("oracle", "partial")}
    models_yaml(Path(env["env"]["XPERTBENCH_MODELS"]), base_url=env["server"].base_url,
                candidates=("oracle", "partial", "generic", "warm"),
                extra_models={"warm": {"provider": "standin-openai", "model_id": "standin-generic@warm",
                                       "temperature": 0.7, "max_tokens": 2048}})
    out = xb(env, "refresh")
    assert "generations[warm]" in out and "generations[oracle]" not in out
    assert calls(env) == {"candidate": N_TASKS, "judge": N_TASKS}
    for m, t in mtimes.items():
        assert (root / "assets" / "generations" / f"{m}.parquet").stat().st_mtime == t
    board = pd.read_parquet(root / "assets" / "leaderboard.parquet")
    assert set(board["model"]) == {"oracle", "partial", "generic", "warm"}


def test_changing_one_models_settings_regenerates_only_that_model(env):
    root = env["root"]
    mtime = (root / "assets" / "generations" / "oracle.parquet").stat().st_mtime
    models_yaml(Path(env["env"]["XPERTBENCH_MODELS"]), base_url=env["server"].base_url,
                candidates=("oracle", "partial", "generic", "warm"),
                extra_models={"warm": {"provider": "standin-openai", "model_id": "standin-generic@warm",
                                       "temperature": 0.7, "max_tokens": 2048},
                              "partial": {"provider": "standin-anthropic", "model_id": "standin-partial",
                                          "max_tokens": 3000}})
    out = xb(env, "refresh")
    assert "generations [partial]" in out and "generations [oracle]" not in out
    # New call keys (max_tokens is part of them), same stand-in answers, so the judge reuses its calls.
    assert calls(env) == {"candidate": N_TASKS, "judge": 0}
    assert (root / "assets" / "generations" / "oracle.parquet").stat().st_mtime == mtime


def test_changing_the_judge_template_rejudges_without_regenerating(env):
    pipeline_yaml(Path(env["env"]["XPERTBENCH_CONFIG"]), judge={"template_version": "judge-v2"})
    out = xb(env, "refresh")
    assert "generations[" not in out
    assert calls(env) == {"candidate": 0, "judge": 4 * N_TASKS + 2 * N_TASKS}
    j = table(env, "judgements", "oracle")
    assert j["judge_template_hash"].nunique() == 1


def test_trace_matches_the_files_on_disk(env):
    import hashlib

    out = xb(env, "trace", "t-covenant-0", "--model", "oracle")
    raw = env["root"] / "raw" / "t-covenant-0.json"
    assert hashlib.sha256(raw.read_bytes()).hexdigest() in out
    assert "matches the file on disk" in out
    gen = table(env, "generations", "oracle").set_index("task_id").loc["t-covenant-0"]
    assert gen["call_key"][:16] in out and gen["model_reported"] in out
    scores = table(env, "task_scores", "oracle").set_index("task_id").loc["t-covenant-0"]
    assert f"{100 * scores['score']:.2f}%" in out
