"""One Settings object: every override path reaches the code versions, and staleness follows."""

import subprocess
import sys

import dagster as dg
import pytest

from pipelines.cli.orchestrate import run_all
from pipelines.definitions import build_definitions
from pipelines.settings import Settings, SettingsError
from tests.pipeline.helpers import models_yaml, pipeline_yaml, small_raw_folder


def judge_version(s: Settings) -> str:
    defs = build_definitions(s)
    graph = defs.resolve_asset_graph()
    return graph.get(dg.AssetKey("judgements")).code_version


@pytest.fixture()
def files(tmp_path):
    small_raw_folder(tmp_path / "raw", per_domain=1)
    return {"raw": tmp_path / "raw", "assets": tmp_path / "assets", "cfg": pipeline_yaml(tmp_path / "xb.yaml"),
            "cfg2": pipeline_yaml(tmp_path / "xb2.yaml", judge={"template_version": "judge-v9"}),
            "models": models_yaml(tmp_path / "m.yaml")}


def test_every_override_path_changes_the_judgements_code_version(files):
    base = dict(raw_dir=files["raw"], assets_dir=files["assets"], models=files["models"])
    v0 = judge_version(Settings.load(**base, config=files["cfg"], env={}))
    via_file_arg = judge_version(Settings.load(**base, config=files["cfg2"], env={}))
    via_env = judge_version(Settings.load(**base, env={"XPERTBENCH_CONFIG": str(files["cfg2"])}))
    via_set_env = judge_version(Settings.load(**base, config=files["cfg"],
                                              env={"XPERTBENCH_SET": "judge.template_version=judge-v9"}))
    via_override = judge_version(Settings.load(**base, config=files["cfg"], overrides=["judge.template_version=judge-v9"]))
    assert v0 not in {via_file_arg, via_env, via_set_env, via_override}
    assert via_file_arg == via_env == via_set_env == via_override
    # The resource reads what the code version was computed from (no second source of truth).
    s = Settings.load(**base, config=files["cfg"], overrides={"judge": {"template_version": "judge-v9"}})
    assert build_definitions(s).resources["xpertbench"].config().judge.template_version == "judge-v9"
    assert Settings.load(env=s.to_env()).pipeline == s.pipeline  # what child processes see


def test_a_template_override_makes_judgements_stale(files, tmp_path):
    base = dict(raw_dir=files["raw"], assets_dir=files["assets"], models=files["models"], config=files["cfg"], env={})
    (tmp_path / "home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as inst:
        assert run_all(inst, build_definitions(Settings.load(**base)), echo=lambda s: None)
        changed = build_definitions(Settings.load(**base, overrides=["judge.template_version=judge-v9"]))
        graph = changed.resolve_asset_graph()
        rec = inst.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey("judgements"),
                                                                asset_partitions=["oracle"]), limit=1).records[0]
        recorded = rec.event_log_entry.asset_materialization.tags["dagster/code_version"]
        assert recorded != graph.get(dg.AssetKey("judgements")).code_version  # Dagster reports it stale
        assert recorded == build_definitions(Settings.load(**base)).resolve_asset_graph().get(
            dg.AssetKey("judgements")).code_version


def test_named_config_that_is_missing_is_an_error_and_the_default_may_be_absent(tmp_path):
    with pytest.raises(SettingsError, match="pipeline config not found"):
        Settings.load(config=tmp_path / "nope.yaml", env={})
    with pytest.raises(SettingsError, match="not found"):
        Settings.load(env={"XPERTBENCH_MODELS": str(tmp_path / "nope.yaml")})


def test_cli_reports_config_problems_in_one_line_each_with_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("judge:\n  mode: fiveshot\ngold: [1, 2\n")
    p = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--config", str(bad),
                        "--raw-dir", str(tmp_path / "absent")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    lines = [s for s in p.stderr.splitlines() if s.startswith("xpertbench:")]
    assert lines and all(str(bad) in s for s in lines) and "Traceback" not in p.stderr
    ok = pipeline_yaml(tmp_path / "ok.yaml")
    p = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--config", str(ok),
                        "--raw-dir", str(tmp_path / "absent")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "raw submissions folder does not exist" in p.stderr


def test_one_candidate_gets_a_leaderboard_and_report(tmp_path):
    small_raw_folder(tmp_path / "raw", per_domain=1)
    s = Settings.load(raw_dir=tmp_path / "raw", assets_dir=tmp_path / "assets", config=pipeline_yaml(tmp_path / "x.yaml"),
                      models=models_yaml(tmp_path / "m.yaml", candidates=("oracle",)), env={})
    with dg.DagsterInstance.ephemeral() as inst:
        assert run_all(inst, build_definitions(s), echo=lambda x: None)
    import pandas as pd

    board = pd.read_parquet(tmp_path / "assets" / "leaderboard.parquet")
    assert list(board["model"]) == ["oracle"] and (tmp_path / "assets" / "report" / "report.html").exists()


def test_the_llm_resource_is_substitutable_and_closes_what_it_opened(tmp_path):
    from pipelines.cli.orchestrate import CURATION, materialize
    from pipelines.defs.resources import LLMResource, XpertBenchResource

    small_raw_folder(tmp_path / "raw", per_domain=1)
    s = Settings.load(raw_dir=tmp_path / "raw", assets_dir=tmp_path / "assets", config=pipeline_yaml(tmp_path / "x.yaml"),
                      models=models_yaml(tmp_path / "m.yaml", candidates=("oracle",)), env={})
    runners = []

    class Recording(LLMResource):  # a test's substitute: the real resource, remembering its runner
        def setup_for_execution(self, context) -> None:
            super().setup_for_execution(context)
            runners.append(self.runner)

    defs = build_definitions(s, resources={"llm": Recording(xpertbench=XpertBenchResource.from_settings(s),
                                                            progress=False)})
    with dg.DagsterInstance.ephemeral() as inst:
        assert materialize(defs, inst, ["raw_submissions"]).success and materialize(defs, inst, CURATION).success
        assert materialize(defs, inst, ["generations"], partition_key="oracle").success
    assert runners  # the substitute served the run...
    for r in runners:  # ...and every runner it opened was closed: no stand-in server, no store handle
        assert r.standin is None and r._loop is None and r.store._all == []
