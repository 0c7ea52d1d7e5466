"""The read-only webserver behind `refresh`: answers Dagster's GraphQL API, fails clearly, leaves nothing behind."""

import os

import pytest

from pipelines.cli.graphql import DagsterGraphQL, GraphQLError
from pipelines.settings import Settings
from tests.pipeline.helpers import models_yaml, pipeline_yaml, small_raw_folder

NODES = "{ assetNodes { assetKey { path } opVersion } }"


def environment(tmp_path, **overrides: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    small_raw_folder(tmp_path / "raw", per_domain=1)
    s = Settings.load(raw_dir=tmp_path / "raw", assets_dir=tmp_path / "assets", config=pipeline_yaml(tmp_path / "x.yaml"),
                      models=models_yaml(tmp_path / "m.yaml"), env={})
    return {**os.environ, **s.to_env(), "DAGSTER_HOME": str(home), **overrides}


def gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_serves_the_definitions_of_these_settings_and_stops_with_its_children(tmp_path):
    env = environment(tmp_path, XPERTBENCH_SET="judge.template_version=judge-v7")
    with DagsterGraphQL(env) as gql:
        nodes = {"/".join(n["assetKey"]["path"]): n["opVersion"] for n in gql.query(NODES)["assetNodes"]}
        pgid = gql._proc.pid
        assert not gone(pgid)
    s = Settings.load(env=env)
    from pipelines.defs.versions import code_versions

    assert nodes["judgements"] == code_versions(s)["judgements"]  # the override reached the webserver
    assert gone(pgid)  # the webserver and the code server it started


def test_a_code_location_that_cannot_load_is_one_clear_error(tmp_path):
    gql = DagsterGraphQL(environment(tmp_path, XPERTBENCH_MODELS=str(tmp_path / "missing.yaml"))).start()
    pgid = gql._proc.pid
    try:
        with pytest.raises(GraphQLError, match=r"(?s)code location failed to load.*models config not found"):
            gql.query(NODES)
    finally:
        gql.close()
    assert gone(pgid)
