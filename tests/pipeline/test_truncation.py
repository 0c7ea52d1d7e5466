"""Answers cut off at max_tokens: flagged from generation to report, and regenerated on request.

The stand-in server (external, so its calls can be counted and scripted) marks the first three
candidate answers finish_reason=length; the rest of the run is untouched."""

import io

import dagster as dg
import pandas as pd
import pytest
from rich.console import Console

from pipelines.cli.orchestrate import run_all
from pipelines.cli.summary import print_summary
from pipelines.llm.standin_server import StandinServer
from tests.pipeline.helpers import models_yaml, pipeline_defs, pipeline_yaml, small_raw_folder

CUT = 3


def run(root, policy: str):
    small_raw_folder(root / "raw", per_domain=1)
    with StandinServer() as srv:
        srv.script([{"finish_reason": "length"}] * CUT)
        defs = pipeline_defs(str(root / "raw"), str(root / "assets"),
                             str(pipeline_yaml(root / "xb.yaml", generation={"truncation": policy})),
                             str(models_yaml(root / "models.yaml", base_url=srv.base_url, candidates=("oracle",))))
        with dg.DagsterInstance.ephemeral() as inst:
            ok = run_all(inst, defs=defs, echo=lambda s: None)
        log = [e for e in srv.request_log() if e["model"] == "standin-oracle"]
    return ok, log, root / "assets"


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    return run(tmp_path_factory.mktemp("judge"), "judge")


def test_truncated_answers_are_judged_and_flagged_everywhere(judged):
    ok, log, assets = judged
    assert ok and len(log) == 7  # nothing regenerated under the default policy
    gen = pd.read_parquet(assets / "generations" / "oracle.parquet")
    cut = set(gen.loc[gen["truncated"], "task_id"])
    assert len(cut) == CUT and set(gen.loc[gen["finish_reason"] == "length", "task_id"]) == cut
    scores = pd.read_parquet(assets / "task_scores" / "oracle.parquet")
    assert set(scores.loc[scores["answer_truncated"], "task_id"]) == cut
    assert scores.loc[scores["task_id"].isin(cut), "status"].eq("scored").all()  # judged as they are
    board = pd.read_parquet(assets / "leaderboard.parquet")
    assert board.set_index("model").at["oracle", "truncated_answers"] == CUT
    md = (assets / "report" / "report.md").read_text()
    assert "truncated_answers" in md and "## Truncated answers" in md
    section = md.split("## Truncated answers", 1)[1].split("\n## ", 1)[0]
    assert all(t in section for t in cut)


def test_terminal_summary_counts_truncations_per_model(judged):
    _, _, assets = judged
    buf = io.StringIO()
    print_summary(assets, Console(file=buf, width=200))
    out = buf.getvalue()
    assert "truncated" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("│ oracle") and "invalid" not in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[:4] == ["oracle", "7", "0", str(CUT)]  # model, answers, failed, truncated


def test_regenerate_policy_asks_again_with_a_larger_limit(tmp_path):
    ok, log, assets = run(tmp_path, "regenerate")
    assert ok and len(log) == 7 + CUT
    limits = sorted(e["params"]["max_tokens"] for e in log)
    assert limits == [2048] * 7 + [4096] * CUT  # helpers: oracle max_tokens 2048; regenerate_factor 2
    gen = pd.read_parquet(assets / "generations" / "oracle.parquet")
    assert gen["regenerated"].sum() == CUT and not gen["truncated"].any()
    assert set(gen.loc[gen["regenerated"], "max_tokens"]) == {4096}
    board = pd.read_parquet(assets / "leaderboard.parquet")
    assert board.set_index("model").at["oracle", "truncated_answers"] == 0
