"""The single Dagster entry point: every asset, check, resource and job of the pipeline."""

from __future__ import annotations

import dagster as dg

from pipelines.defs import aggregates, agreement, curation, generation, gold, ingest, judging, report, rubrics, scoring
from pipelines.defs.io import ParquetIOManager
from pipelines.defs.resources import XpertBenchResource

ASSETS = [ingest.raw_submissions, ingest.model_configs, ingest.parse_submissions, curation.curate_tasks, rubrics.check_rubrics,
          gold.gold_tasks, generation.generations, judging.judgements, scoring.task_scores,
          agreement.judge_meta_evaluation, aggregates.aggregate_tables, report.report]
CHECKS = [rubrics.rubrics_gx_suite, rubrics.tasks_gx_suite, scoring.judge_error_rate, scoring.all_gold_tasks_scored]


def build_resources(assets_dir: str | None = None, **overrides: str) -> dict:
    res = XpertBenchResource(**({"assets_dir": assets_dir} if assets_dir else {}), **overrides)
    return {"xpertbench": res, "io_manager": ParquetIOManager(base_dir=res.assets_dir)}


# Declarative automation is evaluated by this sensor (running by default) whenever the daemon is
# up, e.g. under `make ui`: stale and newly missing assets are then materialised on their own.
automation = dg.AutomationConditionSensorDefinition(
    "xpertbench_automation", target=dg.AssetSelection.all(include_sources=True),
    default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
)

defs = dg.Definitions(assets=ASSETS, asset_checks=CHECKS, sensors=[automation], resources=build_resources())
