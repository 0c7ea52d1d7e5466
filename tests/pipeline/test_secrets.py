"""An API key from the environment reaches the provider and nothing else: no asset, log or store."""

import logging

import dagster as dg

from pipelines.cli.orchestrate import run_all
from pipelines.llm.standin_server import StandinServer
from tests.pipeline.helpers import pipeline_defs, models_yaml, pipeline_yaml, small_raw_folder

SECRET = "sk-live-XB-SECRET-7731"


def test_api_key_never_lands_in_assets_logs_or_instance(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("XB_TEST_API_KEY", SECRET)
    small_raw_folder(tmp_path / "raw", per_domain=1)
    caplog.set_level(logging.DEBUG)
    lines: list[str] = []
    with StandinServer() as server:
        res = pipeline_defs(str(tmp_path / "raw"), str(tmp_path / "assets"), str(pipeline_yaml(tmp_path / "xb.yaml")), str(models_yaml(tmp_path / "m.yaml", base_url=server.base_url,
                                                          api_key_env="XB_TEST_API_KEY")))
        (tmp_path / "home").mkdir()
        with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as inst:
            assert run_all(inst, defs=res, echo=lines.append)
            events = [str(e) for e in inst.all_logs(inst.get_runs()[0].run_id)]
        seen = server.request_log()
    assert seen, "the stand-in server was called"
    assert all(SECRET not in str(e) for e in seen)  # its request log keeps no auth headers either
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaks == [p for p in leaks if p.name == "m.yaml"] == []  # not even the config holds it
    assert SECRET not in caplog.text and SECRET not in "\n".join(lines + events)
