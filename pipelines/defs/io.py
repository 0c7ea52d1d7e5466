"""Parquet IO manager: one file per asset (and per partition) under the assets folder."""


import os
import uuid

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from pipelines.paths import DEFAULT_ASSETS_DIR


class _ParquetIO(dg.UPathIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A temp name unique to this writer, then an atomic replace: two runs writing the same asset
        # at once, or a run killed mid-write, never leave a half or mixed file under the real name.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            with tmp.open("wb") as fh:
                pq.write_table(pa.Table.from_pandas(obj, preserve_index=False), fh)
            tmp.replace(path)
        finally:
            if tmp.exists():
                tmp.unlink()

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

    base_dir: str = str(DEFAULT_ASSETS_DIR)

    def create_io_manager(self, context: dg.InitResourceContext) -> _ParquetIO:
        return _ParquetIO(base_path=UPath(self.base_dir))
