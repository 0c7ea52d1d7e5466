"""The single Dagster entry point: every asset, check, resource and job of the pipeline."""

from __future__ import annotations

import dagster as dg

from pipelines.defs import curation, gold, ingest, rubrics
from pipelines.defs.io import ParquetIOManager
from pipelines.defs.resources import XpertBenchResource

ASSETS = [ingest.raw_submissions, ingest.parse_submissions, curation.curate_tasks, rubrics.check_rubrics,
          gold.gold_tasks]
CHECKS = [rubrics.rubrics_gx_suite, rubrics.tasks_gx_suite]


def build_resources(assets_dir: str | None = None, **overrides: str) -> dict:
    res = XpertBenchResource(**({"assets_dir": assets_dir} if assets_dir else {}), **overrides)
    return {"xpertbench": res, "io_manager": ParquetIOManager(base_dir=res.assets_dir)}


defs = dg.Definitions(assets=ASSETS, asset_checks=CHECKS, resources=build_resources())
