"""Run a Great Expectations 1.x suite (JSON in validation/) against a DataFrame.

GX is imported lazily: it costs seconds to import and most code paths never need it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipelines.paths import VALIDATION_DIR


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    success: bool
    evaluated: int
    failed: list[str] = field(default_factory=list)


def load_suite(name: str, folder: Path = VALIDATION_DIR) -> dict:
    return json.loads((folder / f"{name}.suite.json").read_text(encoding="utf-8"))


def run_suite(df: pd.DataFrame, suite: dict) -> SuiteResult:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (
        ctx.data_sources.add_pandas(name="pandas")
        .add_dataframe_asset(name="frame")
        .add_batch_definition_whole_dataframe("whole")
    )
    gx_suite = gx.ExpectationSuite(name=suite["name"], expectations=suite["expectations"])
    res = batch_def.get_batch(batch_parameters={"dataframe": df}).validate(gx_suite)
    failed = []
    for r in res.results:
        if not r.success:
            kw = r.expectation_config.kwargs
            col = kw.get("column") or kw.get("column_list") or ""
            unexpected = (r.result or {}).get("partial_unexpected_list", [])[:5]
            failed.append(f"{r.expectation_config.type}({col}) unexpected={unexpected}")
    return SuiteResult(suite["name"], bool(res.success), len(res.results), failed)
