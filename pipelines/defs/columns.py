"""Column descriptions and results as Dagster table metadata (the texts live in pipelines/core/columns.py).

Every table asset's `dagster/column_schema` carries a description per column, and results are shown
as table metadata in the UI, formatted by unit (percent with one decimal, counts as integers), not
as markdown behind "Show Markdown".
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from pipelines.core.columns import column, fmt, unit

_TYPES = {"count": "int", "bool": "bool"}


def column_schema(df: pd.DataFrame, asset: str | None) -> dg.TableSchema:
    """The stored table's schema: parquet dtype and the column's description (empty if undocumented)."""
    return dg.TableSchema(columns=[
        dg.TableColumn(str(c), str(t), description=(column(asset, str(c)) or (None, ""))[0] or None)
        for c, t in df.dtypes.items()])


def _cell(value: object, unit_name: str) -> str | int | bool | None:
    text = fmt(value, unit_name)
    if text == "":
        return None
    if unit_name == "count":
        return int(text)
    if unit_name == "bool":
        return bool(value)
    return text  # percent and other numbers as formatted text: "50.0" stays "50.0" in the browser


def ui_table(df: pd.DataFrame, asset: str | None = None, max_rows: int = 50) -> dg.MetadataValue:
    """`df` (first `max_rows` rows) as a UI table, each column described and formatted by its unit."""
    head = df.head(max_rows)
    units = {str(c): unit(asset, str(c)) for c in head.columns}
    schema = dg.TableSchema(columns=[
        dg.TableColumn(c, _TYPES.get(u, "string"),
                       description=(column(asset, c).description + (" Shown in %." if u == "percent" else ""))
                       if column(asset, c) else None)
        for c, u in units.items()])
    records = [dg.TableRecord({c: _cell(v, units[c]) for c, v in zip(units, row)})
               for row in head.itertuples(index=False, name=None)]
    return dg.MetadataValue.table(records, schema)


def counts_table(series: pd.Series, label: str) -> dg.MetadataValue:
    """Value counts as a two-column UI table."""
    vc = series.value_counts().rename_axis(label).reset_index(name="count")
    return ui_table(vc.astype({"count": int}))
