"""The IO manager on any fsspec filesystem: a local folder and an S3-compatible server (moto on 127.0.0.1)."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from upath import UPath

from pipelines.defs.io import ParquetIOManager, publish_folder
from pipelines.settings import Settings, SettingsError

PARTS = dg.StaticPartitionsDefinition(["oracle", "generic"])


@dg.asset(partitions_def=PARTS)
def per_model(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return pd.DataFrame({"model": [context.partition_key] * 3, "score": [0.1, 0.5, 0.9]})


@dg.asset(ins={"per_model": dg.AssetIn()})
def combined(per_model: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([per_model[k] for k in sorted(per_model)], ignore_index=True)


class TableConfig(dg.Config):
    broken: bool = False


@dg.asset
def table(config: TableConfig) -> pd.DataFrame:
    if config.broken:
        return pd.DataFrame({"x": [1, "two", object()]})  # pyarrow cannot serialise this column
    return pd.DataFrame({"x": [1, 2, 3]})


@pytest.fixture(params=["local", "s3"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "assets")
    return f"s3://{request.getfixturevalue('s3_bucket')}/team/assets"


def files_under(base: str) -> list[str]:
    root = UPath(base)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_partitioned_and_unpartitioned_tables_round_trip(base: str) -> None:
    io = {"io_manager": ParquetIOManager(base_dir=base)}
    with dg.DagsterInstance.ephemeral() as inst:
        for pk in ("oracle", "generic"):
            assert dg.materialize([per_model], partition_key=pk, resources=io, instance=inst).success
        res = dg.materialize([per_model, combined], selection=["combined"], resources=io, instance=inst)
        assert res.success
        mat = res.asset_materializations_for_node("combined")[0]
    assert files_under(base) == ["combined.parquet", "per_model/generic.parquet", "per_model/oracle.parquet"]
    with (UPath(base) / "combined.parquet").open("rb") as fh:
        back = pd.read_parquet(fh)
    assert sorted(back["model"].unique()) == ["generic", "oracle"] and len(back) == 6
    assert str(mat.metadata["path"].value).startswith(base.split("://")[0] if "://" in base else "/")
    assert mat.metadata["dagster/row_count"].value == 6


def test_a_failed_write_leaves_the_previous_table_whole(base: str) -> None:
    io = {"io_manager": ParquetIOManager(base_dir=base)}
    ok = {"ops": {"table": {"config": {"broken": False}}}}
    bad = {"ops": {"table": {"config": {"broken": True}}}}
    assert dg.materialize([table], resources=io, run_config=ok).success
    assert not dg.materialize([table], resources=io, run_config=bad, raise_on_error=False).success
    with (UPath(base) / "table.parquet").open("rb") as fh:
        assert pd.read_parquet(fh)["x"].tolist() == [1, 2, 3]
    assert files_under(base) == ["table.parquet"]  # no temporary file or object left behind


def test_the_report_folder_is_published_to_the_assets_url(base: str, tmp_path: Path) -> None:
    local = tmp_path / "report"
    (local / "images").mkdir(parents=True)
    (local / "report.html").write_text("<html>report</html>")
    (local / "images" / "fig00.png").write_bytes(b"\x89PNG...")
    url = publish_folder(local, base, "report")
    assert files_under(base) == ["report/images/fig00.png", "report/report.html"]
    assert (UPath(url) / "report.html").read_text() == "<html>report</html>"


def test_settings_take_an_assets_url_and_refuse_credentials_in_it(tmp_path: Path) -> None:
    s = Settings.load(assets_dir=tmp_path, env={"XPERTBENCH_ASSETS_URL": "s3://team-bucket/xpertbench"})
    assert s.assets_base == "s3://team-bucket/xpertbench" and s.assets_dir == tmp_path
    assert Settings.load(assets_dir=tmp_path, env={}).assets_base == str(tmp_path)
    with pytest.raises(SettingsError, match="credentials"):
        Settings.load(env={"XPERTBENCH_ASSETS_URL": "s3://AKIA:secret@team-bucket/x"})
    with pytest.raises(SettingsError, match="no filesystem"):
        Settings.load(env={"XPERTBENCH_ASSETS_URL": "nosuchfs://bucket/x"})
