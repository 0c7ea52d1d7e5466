"""Parquet IO manager: one file per asset (and per partition) under the assets folder."""


import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from pipelines.paths import ASSETS_DIR


class _ParquetIO(dg.UPathIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            pq.write_table(pa.Table.from_pandas(obj, preserve_index=False), fh)
        tmp.rename(path)  # atomic: a crashed write never leaves a half file under the real name

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        with path.open("rb") as fh:
            return pq.read_table(fh).to_pandas()

    def get_metadata(self, context: dg.OutputContext, obj: pd.DataFrame) -> dict:
        # UPathIOManager adds "path" itself; adding it here raises DagsterInvalidMetadata.
        return {
            "dagster/row_count": len(obj),
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(str(c), str(t)) for c, t in obj.dtypes.items()]
            ),
        }


class ParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Stores DataFrames as parquet under `base_dir` (default: the project's assets/ folder)."""

    base_dir: str = str(ASSETS_DIR)

    def create_io_manager(self, context: dg.InitResourceContext) -> _ParquetIO:
        return _ParquetIO(base_path=UPath(self.base_dir))
