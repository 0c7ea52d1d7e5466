"""The single Dagster entry point, built from one Settings object by `build_definitions`.

`defs` (what `dagster dev`, `dg` and the daemon load) uses `Settings.load()`: the environment
variables and the default files. The CLI and tests call `build_definitions(settings)` with their
own settings; partitions, code versions, resources, checks and the sensor all come from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from pipelines.defs import aggregates, agreement, curation, generation, gold, ingest, judging, report, rubrics, scoring
from pipelines.defs.automation import automation_sensors
from pipelines.defs.common import Build
from pipelines.defs.executor import executor_for
from pipelines.defs.io import ParquetIOManager
from pipelines.defs.jobs import whole_benchmark_job
from pipelines.defs.resources import LLMResource, XpertBenchResource
from pipelines.defs.versions import code_versions
from pipelines.settings import Settings

STAGES = [ingest, curation, rubrics, gold, generation, judging, scoring, agreement, aggregates, report]


def build_resources(settings: Settings, **llm_options: Any) -> dict[str, Any]:
    xb = XpertBenchResource.from_settings(settings)
    return {"xpertbench": xb, "llm": LLMResource(xpertbench=xb, **llm_options),
            "io_manager": ParquetIOManager(base_dir=settings.assets_base)}


def build_definitions(settings: Settings | None = None, *, resources: Mapping[str, Any] | None = None,
                      **llm_options: Any) -> dg.Definitions:
    """Every asset, check, resource, the automation sensors and the whole_benchmark job for these settings.

    `resources` replaces any of the built resources (tests substitute the LLM layer this way).
    """
    s = settings or Settings.load()
    b = Build(s, code_versions(s), dg.StaticPartitionsDefinition(s.candidates))
    assets, checks = [], []
    for stage in STAGES:
        for d in stage.build(b):
            (checks if isinstance(d, dg.AssetChecksDefinition) else assets).append(d)
    # The daemon's sensors (`make ui`): quiet observation, declarative automation, the consistent final stage.
    assets, sensors = automation_sensors(s, assets)
    res = {**build_resources(s, **llm_options), **(resources or {})}
    # What the whole_benchmark op materialises: the same assets, checks and resources, without the job itself.
    inner = dg.Definitions(assets=assets, asset_checks=checks, resources=res)
    return dg.Definitions(assets=assets, asset_checks=checks, sensors=sensors, executor=executor_for(s),
                          jobs=[whole_benchmark_job(lambda: inner)], resources=res)


defs = build_definitions()
