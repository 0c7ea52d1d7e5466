"""Parquet IO manager: one file per asset (and per partition) under the assets base, on any filesystem.

The base is a local folder by default (`assets/`) or any fsspec URL (XPERTBENCH_ASSETS_URL:
`s3://bucket/prefix`, `gs://...`, `az://...`), through universal-pathlib. Credentials come from
the storage library's own environment variables, never from the URL or Dagster config.

Writes never leave a half file under the real name:
- local disk: a temp name unique to this writer, then an atomic rename;
- object stores: the table is serialised in memory, then written in one PUT (or one multipart
  upload, which S3, GCS and Azure also publish atomically): readers see the old object or the
  new one. Object stores have no atomic rename, so no temp-then-rename there.
"""

import io
import os
import uuid
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from pipelines.defs.columns import column_schema
from pipelines.paths import DEFAULT_ASSETS_DIR

LOCAL_PROTOCOLS = ("", "file", "local")


def is_local(path: UPath) -> bool:
    return path.protocol in LOCAL_PROTOCOLS


def write_bytes_atomic(path: UPath, data: bytes) -> None:
    """Publish `data` under `path` all at once (see the module docstring)."""
    if not is_local(path):
        path.write_bytes(data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Two runs writing the same asset at once, or a run killed mid-write, never leave a half or
    # mixed file under the real name.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def publish_folder(local: Path, base: str, name: str) -> str:
    """Copy a local folder's files to `<base>/<name>/` (e.g. the report to the team's bucket); returns its URL."""
    dest = UPath(base) / name
    for p in sorted(local.rglob("*")):
        if p.is_file():
            write_bytes_atomic(dest.joinpath(*p.relative_to(local).parts), p.read_bytes())
    return str(dest)


class _ParquetIO(dg.UPathIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(obj, preserve_index=False), buf)
        write_bytes_atomic(path, buf.getvalue())

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        with path.open("rb") as fh:
            return pq.read_table(fh).to_pandas()

    def get_metadata(self, context: dg.OutputContext, obj: pd.DataFrame) -> dict:
        # UPathIOManager adds "path" itself; adding it here raises DagsterInvalidMetadata.
        return {
            "dagster/row_count": len(obj),
            # Descriptions from pipelines/core/columns.py, the one place they are written.
            "dagster/column_schema": column_schema(obj, context.asset_key.path[-1] if context.has_asset_key else None),
        }


class ParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Stores DataFrames as parquet under `base_dir`: a local folder (default: the project's assets/)
    or an fsspec URL such as s3://bucket/prefix."""

    base_dir: str = str(DEFAULT_ASSETS_DIR)

    def create_io_manager(self, context: dg.InitResourceContext) -> _ParquetIO:
        return _ParquetIO(base_path=UPath(self.base_dir))
