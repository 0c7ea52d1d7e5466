"""Rerun only what changed, proven on Dagster's own records and on the calls the stand-in receives.

A baseline (the small corpus after one real `xpertbench run`) is built once per module and never
modified: every test copies it (raw folder, configs, assets, call store, Dagster instance) into its
own folder, makes one change, refreshes, and reads from the copied instance which assets and
partitions were materialised, their data versions, and what Dagster reports as stale. Tests run
alone or in any order. The stand-in server is shared (its URL is part of the judge's code version)
and each test clears its request log before counting.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pipelines.cli.orchestrate import materialize
from pipelines.cli.refresh import RefreshResult, StaleItem, refresh
from pipelines.core.frames import frame_hash
from pipelines.definitions import build_definitions
from pipelines.llm.standin_server import StandinServer
from pipelines.settings import Settings
from tests.pipeline.helpers import models_yaml, pipeline_yaml, small_raw_folder

JUDGE_ID = "standin-judge"
N_TASKS = 14  # 2 per domain, all in Gold, all anchored
CANDIDATES = ("oracle", "partial", "generic")
WARM = {"provider": "standin-openai", "model_id": "standin-generic@warm", "temperature": 0.7, "max_tokens": 2048}
Key = tuple[str, str | None]  # (asset, partition)


@dataclass(frozen=True)
class Record:
    storage_id: int
    data_version: str
    code_version: str


@pytest.fixture(scope="module")
def server():
    with StandinServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, server) -> dict:
    """The immutable template: one full `xpertbench run` on 14 tasks x 3 stand-in candidates."""
    root = tmp_path_factory.mktemp("baseline")
    small_raw_folder(root / "raw", per_domain=2)
    (root / "home").mkdir()
    (root / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    models_yaml(root / "models.yaml", base_url=server.base_url)
    pipeline_yaml(root / "xb.yaml")
    server.reset()
    Workspace(root, server).cli("run")
    return {"root": root, "first_run_calls": counts(server)}


def counts(server: StandinServer) -> dict[str, int]:
    """Model requests the server received since its log was last cleared: candidate and judge calls."""
    log = [e for e in server.request_log() if "model" in e]
    judge = sum(1 for e in log if e["model"] == JUDGE_ID)
    return {"candidate": len(log) - judge, "judge": judge}


class Workspace:
    """One test's own copy of the baseline, and what it can do with it."""

    def __init__(self, root: Path, server: StandinServer) -> None:
        self.root, self.server = root, server

    def settings(self) -> Settings:
        r = self.root
        return Settings.load(raw_dir=r / "raw", assets_dir=r / "assets", config=r / "xb.yaml",
                             models=r / "models.yaml", env={})

    def defs(self) -> dg.Definitions:
        return build_definitions(self.settings(), progress=False)

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.local_temp(str(self.root / "home"))

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.settings().to_env(), "DAGSTER_HOME": str(self.root / "home")}

    def cli(self, *args: str) -> str:
        """The real command in a fresh process, as a user runs it."""
        p = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], env=self.env(), capture_output=True,
                           text=True, timeout=900)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        return p.stdout

    def refresh(self) -> RefreshResult:
        with self.instance() as inst:
            return refresh(inst, self.defs(), echo=lambda _: None, env=self.env())

    def records(self) -> dict[Key, Record]:
        """The latest materialisation of every asset and partition, read from the instance."""
        s = self.settings()
        out = {}
        with self.instance() as inst:
            for spec in self.defs().resolve_all_asset_specs():
                name = spec.key.to_user_string()
                if name in ("raw_submissions", "model_configs"):
                    continue
                for pk in (s.candidates if spec.partitions_def else [None]):
                    recs = inst.fetch_materializations(dg.AssetRecordsFilter(
                        asset_key=spec.key, asset_partitions=[pk] if pk else None), limit=1).records
                    if recs:
                        tags = recs[0].asset_materialization.tags or {}
                        out[(name, pk)] = Record(recs[0].storage_id, tags.get("dagster/data_version", ""),
                                                 tags.get("dagster/code_version", ""))
        return out

    def table(self, name: str, part: str | None = None) -> pd.DataFrame:
        return pd.read_parquet(self.root / "assets" / name / f"{part}.parquet" if part
                               else self.root / "assets" / f"{name}.parquet")


@pytest.fixture
def ws(baseline, server, tmp_path) -> Workspace:
    shutil.copytree(baseline["root"], tmp_path / "ws")
    server.reset()  # count only this test's calls
    return Workspace(tmp_path / "ws", server)


def materialised(before: dict[Key, Record], after: dict[Key, Record]) -> set[Key]:
    return {k for k, r in after.items() if k not in before or before[k].storage_id != r.storage_id}


def stale(items: list[StaleItem]) -> set[Key]:
    return {(i.asset, i.partition) for i in items}


def test_first_run_pays_for_every_call_and_records_content_versions(baseline, ws):
    # 3 candidates x 14 tasks; judge: 3 x 14 answers + 14 anchors x (ShotJudge + zero-shot)
    assert baseline["first_run_calls"] == {"candidate": 3 * N_TASKS, "judge": 3 * N_TASKS + 2 * N_TASKS}
    recs = ws.records()
    for stage in ("generations", "judgements", "task_scores"):
        assert {(stage, m) for m in CANDIDATES} <= set(recs)
    # The expensive stages carry content hashes as data versions, not Dagster's derived default.
    gen = ws.table("generations", "oracle")
    assert recs[("generations", "oracle")].data_version == frame_hash(
        gen[["task_id", "replicate", "ok", "answer", "call_key"]])


def test_rerun_with_nothing_changed_sends_nothing_and_materialises_nothing(ws):
    before = ws.records()
    result = ws.refresh()
    assert result.ok and result.rounds == [[]] and result.runs == []
    assert ws.records() == before
    assert counts(ws.server) == {"candidate": 0, "judge": 0}


def test_editing_one_submission_calls_only_for_that_task(ws):
    old_gens = {m: ws.table("generations", m) for m in CANDIDATES}
    before = ws.records()
    path = ws.root / "raw" / "t-covenant-0.json"
    doc = json.loads(path.read_text())
    doc["task"]["deliverables"] += " Add a one-line executive summary."
    path.write_text(json.dumps(doc, indent=1))
    ws.cli("refresh")  # the user's command, in its own process
    # 3 candidates answer the edited task again; the judge grades those 3 answers, the task's anchor
    # (ShotJudge + zero-shot), and the sibling task whose worked example is the edited task's anchor.
    assert counts(ws.server) == {"candidate": 3, "judge": 3 + 2 + 1}
    after = ws.records()
    assert {("generations", m) for m in CANDIDATES} <= materialised(before, after)
    for m, old in old_gens.items():
        assert after[("generations", m)].data_version != before[("generations", m)].data_version
        new = ws.table("generations", m)
        changed = set(new.merge(old, on="task_id", suffixes=("", "_old"))
                      .query("call_key != call_key_old")["task_id"])
        assert changed == {"t-covenant-0"}
    # Dagster now reports nothing stale, and a second refresh sends and materialises nothing.
    ws.server.reset()
    again = ws.refresh()
    assert again.rounds == [[]] and ws.records() == after
    assert counts(ws.server) == {"candidate": 0, "judge": 0}


def test_identical_upstream_content_leaves_downstream_fresh_and_unmaterialised(ws):
    # A new intake code version (a setting that no file here comes near) re-parses the folder into
    # identical rows: same data version, so nothing downstream is stale or run.
    before = ws.records()
    pipeline_yaml(ws.root / "xb.yaml", intake={"max_file_bytes": 512 * 1024})
    result = ws.refresh()
    parse = {("submissions", None), ("submission_quarantine", None)}
    assert stale(result.rounds[0]) == parse
    assert {i.status for i in result.rounds[0]} == {"STALE"}
    assert result.runs == [(("submission_quarantine", "submissions"), None)]
    assert result.rounds[1:] == [[]]  # after the re-parse Dagster reports everything fresh
    after = ws.records()
    assert materialised(before, after) == parse
    for k in parse:
        assert after[k].code_version != before[k].code_version
        assert after[k].data_version == before[k].data_version
    assert counts(ws.server) == {"candidate": 0, "judge": 0}


def test_adding_a_model_runs_only_its_partitions(ws):
    before = ws.records()
    models_yaml(ws.root / "models.yaml", base_url=ws.server.base_url, candidates=(*CANDIDATES, "warm"),
                extra_models={"warm": WARM})
    result = ws.refresh()
    assert result.ok and {pk for _, pk in result.runs} <= {None, "warm"}
    assert stale(result.rounds[0]) == {(s, "warm") for s in ("generations", "judgements", "task_scores", "provenance")}
    assert {i.status for i in result.rounds[0]} == {"MISSING"}
    after = ws.records()
    done = materialised(before, after)
    assert {(s, "warm") for s in ("generations", "judgements", "task_scores", "provenance")} <= done
    assert not {(s, m) for s in ("generations", "judgements", "task_scores") for m in CANDIDATES} & done
    assert ("leaderboard", None) in done
    assert counts(ws.server) == {"candidate": N_TASKS, "judge": N_TASKS}
    assert set(ws.table("leaderboard")["model"]) == {*CANDIDATES, "warm"}


def test_changing_one_models_settings_regenerates_only_that_model(ws):
    before = ws.records()
    models_yaml(ws.root / "models.yaml", base_url=ws.server.base_url,
                extra_models={"partial": {"provider": "standin-anthropic", "model_id": "standin-partial",
                                          "max_tokens": 3000}})
    result = ws.refresh()
    assert stale(result.rounds[0]) == {("generations", "partial")}
    after = ws.records()
    done = materialised(before, after)
    assert not {(s, m) for s in ("generations", "judgements", "task_scores") for m in ("oracle", "generic")} & done
    # New call keys (max_tokens is part of them), so new generations; the answers are the same, so
    # the judge reuses its calls and the verdicts and scores keep their data versions.
    assert {("generations", "partial"), ("judgements", "partial"), ("task_scores", "partial")} <= done
    assert after[("generations", "partial")].data_version != before[("generations", "partial")].data_version
    for k in (("judgements", "partial"), ("task_scores", "partial"), ("leaderboard", None)):
        assert after[k].data_version == before[k].data_version, k
    assert result.ok and result.rounds[-1] == []
    assert counts(ws.server) == {"candidate": N_TASKS, "judge": 0}


def test_changing_the_judge_template_rejudges_without_regenerating(ws):
    before = ws.records()
    pipeline_yaml(ws.root / "xb.yaml", judge={"template_version": "judge-v2"})
    result = ws.refresh()
    # The judge configuration is part of the code versions of verdicts, scores and the agreement study.
    assert stale(result.rounds[0]) == {(s, m) for s in ("judgements", "task_scores", "provenance") for m in CANDIDATES} | {
        ("anchor_judgements", None), ("judge_agreement", None)}
    after = ws.records()
    done = materialised(before, after)
    assert not any(asset == "generations" for asset, _ in done)
    assert {("judgements", m) for m in CANDIDATES} <= done
    assert counts(ws.server) == {"candidate": 0, "judge": 3 * N_TASKS + 2 * N_TASKS}
    assert ws.table("judgements", "oracle")["judge_template_hash"].nunique() == 1
    assert result.ok and result.rounds[-1] == []


def test_report_hash_does_not_depend_on_when_it_was_built(ws):
    before = ws.records()
    old = ws.table("report")
    with ws.instance() as inst:
        assert materialize(ws.defs(), inst, ["report"]).success  # rebuilt later, same inputs
    after = ws.records()
    assert after[("report", None)].storage_id != before[("report", None)].storage_id
    assert after[("report", None)].data_version == before[("report", None)].data_version
    assert list(ws.table("report")["sha256"]) == list(old["sha256"])


def test_screening_scores_exported_from_a_run_drive_the_difficulty_screen(ws):
    scores = ws.table("task_scores", "partial").set_index("task_id")["score"]
    ws.cli("screening-scores", "--model", "partial")  # writes the raw folder's screening_scores.csv
    exported = pd.read_csv(ws.root / "raw" / "screening_scores.csv")
    assert set(exported["screening_model"]) == {"partial"}
    assert dict(zip(exported["submission_id"], exported["score"])) == pytest.approx(scores.round(4).to_dict())
    # The small corpus's tasks are alike, so partial scores them alike: a threshold just below the
    # scores drops every one, naming the screening model; a threshold at the top drops none.
    for threshold, expected in ((float(scores.min()) - 0.01, set(scores.index)), (float(scores.max()), set())):
        pipeline_yaml(ws.root / "xb.yaml", curation={"difficulty_threshold": threshold})
        defs = ws.defs()
        with ws.instance() as inst:  # as the next run does: observe the folder, curate again
            assert materialize(defs, inst, ["raw_submissions"]).success
            assert materialize(defs, inst, ["tasks", "curation_log"]).success
        log = ws.table("curation_log").set_index("submission_id")
        dropped = set(log.index[log["rule"] == "difficulty_screen"])
        assert dropped == expected, threshold
        assert all(d.startswith("screening model partial scored") for d in log.loc[sorted(dropped), "detail"])


def test_trace_matches_the_files_on_disk(ws):
    out = ws.cli("trace", "t-covenant-0", "--model", "oracle")
    raw = ws.root / "raw" / "t-covenant-0.json"
    assert hashlib.sha256(raw.read_bytes()).hexdigest() in out
    assert "matches the file on disk" in out
    gen = ws.table("generations", "oracle").set_index("task_id").loc["t-covenant-0"]
    assert gen["call_key"][:16] in out and gen["model_reported"] in out
    scores = ws.table("task_scores", "oracle").set_index("task_id").loc["t-covenant-0"]
    assert f"{100 * scores['score']:.1f}%" in out  # percent with one decimal, as everywhere

