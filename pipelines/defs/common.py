"""Small helpers shared by the asset modules: the build context, content-hash outputs, previews."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import pandas as pd

from pipelines.core.frames import frame_hash
from pipelines.core.submission import submissions_by_id as rebuild_submissions
from pipelines.settings import Settings


@dataclass(frozen=True)
class Build:
    """What every stage module needs to define its assets: the settings and what derives from them."""

    settings: Settings
    versions: dict[str, str]
    partitions: dg.StaticPartitionsDefinition


def hashed_output(df: pd.DataFrame, output_name: str = "result", metadata: dict | None = None) -> dg.Output:
    """An Output whose data version is the content hash, so identical rows leave downstream fresh."""
    h = frame_hash(df)
    md = {"content_hash": h[:16], **(metadata or {})}
    return dg.Output(df, output_name=output_name, data_version=dg.DataVersion(h), metadata=md)


def concat_partitions(parts: dict[str, pd.DataFrame] | pd.DataFrame) -> pd.DataFrame:
    """All partitions of a per-model asset as one table.

    An unpartitioned asset reading every partition gets a dict {partition: frame}; with a single
    candidate model Dagster hands over that one partition's frame itself, so accept both.
    """
    if isinstance(parts, pd.DataFrame):
        return parts.reset_index(drop=True)
    frames = [df for _, df in sorted(parts.items())]
    if not frames:
        return pd.DataFrame()
    non_empty = [df for df in frames if len(df)]
    # Keep the columns even when every partition is empty (e.g. every generation failed).
    return pd.concat(non_empty, ignore_index=True) if non_empty else frames[0].iloc[0:0]


def submissions_by_id(tasks: pd.DataFrame, only=None) -> dict:
    """The immutable Submission objects carried in a table's payload_json column."""
    return rebuild_submissions(tasks["task_id"], tasks["payload_json"], only)


# With the daemon running (`make ui`), an asset re-materialises when a parent has new data or its
# own code version changed, and only once its parents' blocking checks (GX suites, judge-error
# rate, Gold coverage) passed; the xpertbench_automation sensor (defs/automation.py) evaluates this.
# eager() alone is not enough on a fresh instance: its trigger (newly missing, a parent updated) is
# dropped when it coincides with the sensor's initial evaluation (since_last_handled resets on it), and
# the observe sensor may record the sources in that very tick; then nothing would ever run. So a missing
# asset partition is also requested while its parents exist, nothing of it is in progress and its last
# run did not fail (no retry loop).
MISSING = (dg.AutomationCondition.missing() & ~dg.AutomationCondition.any_deps_missing()
           & ~dg.AutomationCondition.in_progress() & ~dg.AutomationCondition.any_deps_in_progress()
           & ~dg.AutomationCondition.execution_failed())
AUTO = (dg.AutomationCondition.eager() | dg.AutomationCondition.code_version_changed() | MISSING) & \
    dg.AutomationCondition.all_deps_blocking_checks_passed()
