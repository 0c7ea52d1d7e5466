"""`xpertbench run` with a distributed executor (XPERTBENCH_EXECUTOR=celery): the steps of every run
execute on the Celery workers, and the model partitions run at the same time.

The same stages as `orchestrate.run_all`. Observations of the two source assets stay in process
(they only hash files); every other run goes through `dg.execute_job` on the reconstructable code
location (`pipelines.definitions:defs`), which is what lets the executor hand steps to other
processes and machines: each worker loads the code location from its own environment.
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

import dagster as dg

from pipelines.cli.orchestrate import CURATION, PER_MODEL, candidates, final_stage, materialize


JOB = "xpertbench_assets"


def xpertbench_asset_job() -> dg.JobDefinition:
    """Every asset of the code location `pipelines.definitions:defs` as one job (what workers load)."""
    from pipelines.definitions import defs

    job = dg.define_asset_job(JOB, selection=dg.AssetSelection.all())
    return dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(JOB)


def asset_job() -> dg.ReconstructableJob:
    """A pointer to that job which another process (a Celery worker) can load by module and name."""
    return dg.reconstructable(xpertbench_asset_job)


def execute(instance: dg.DagsterInstance, selection: Sequence[str], partition_key: str | None = None,
            tags: dict[str, str] | None = None) -> tuple[bool, str]:
    """One run of `selection` (one partition of it) through the definitions' executor: (success, run id)."""
    level = os.environ.get("XPERTBENCH_LOG_LEVEL", "WARNING").upper()
    # dagster-celery registers its task on the app again for every step it submits; harmless.
    warnings.filterwarnings("ignore", message="Task name 'execute_plan' is already registered")
    run_tags = {**(tags or {}), **({"dagster/partition": partition_key} if partition_key else {})}
    with dg.execute_job(asset_job(), instance, run_config={"loggers": {"console": {"config": {"log_level": level}}}},
                        tags=run_tags, asset_selection=[dg.AssetKey(a) for a in selection]) as result:
        return result.success, result.run_id


def _execute_in_child(selection: Sequence[str], partition_key: str | None, tags: dict[str, str] | None) -> tuple[bool, str]:
    """One run from a fresh process: the instance from DAGSTER_HOME, the settings from XPERTBENCH_*."""
    for category in (DeprecationWarning, dg.BetaWarning, dg.PreviewWarning):  # as the CLI's own process
        warnings.filterwarnings("ignore", category=category)
    with dg.DagsterInstance.get() as instance:
        return execute(instance, selection, partition_key, tags)


def run_all_distributed(instance: dg.DagsterInstance, defs: dg.Definitions, models: Sequence[str] | None = None,
                        echo: Callable[[str], None] = print, tags: dict[str, str] | None = None) -> bool:
    partitions = candidates(defs)
    unknown = set(models or []) - set(partitions)
    if unknown:
        raise SystemExit(f"unknown candidate model(s) {sorted(unknown)}; models.yaml has {partitions}")
    for label, selection in (("observe raw submissions", ["raw_submissions"]),
                             ("observe model configs", ["model_configs"])):
        echo(f"[xpertbench] {label}")
        if not materialize(defs, instance, selection).success:
            echo(f"[xpertbench] {label} FAILED")
            return False
    echo(f"[xpertbench] curation: {', '.join(CURATION)}")
    ok, run_id = execute(instance, CURATION, tags=tags)
    if not ok:
        echo(f"[xpertbench] curation FAILED; see run {run_id} in the UI")
        return False
    chosen = list(models or partitions)
    echo(f"[xpertbench] models {', '.join(chosen)} in parallel: {', '.join(PER_MODEL)}")
    # One process per partition run: each run's executor loop polls its Celery tasks on its own. (Dagster's
    # execute_job is not safe to call from several threads of one process: runs there never start.)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, len(chosen)), mp_context=spawn) as pool:
        futures = {m: pool.submit(_execute_in_child, PER_MODEL, m, tags) for m in chosen}
        outcomes = {m: f.result() for m, f in futures.items()}
    failed = [m for m, (ok, _) in outcomes.items() if not ok]
    for m in failed:
        echo(f"[xpertbench] model {m} FAILED; see run {outcomes[m][1]} in the UI")
    if failed:
        echo(f"[xpertbench] aggregates not updated: {', '.join(failed)} failed")
        return False
    missing = set(partitions) - set(instance.get_materialized_partitions(dg.AssetKey("task_scores")))
    if missing:
        echo(f"[xpertbench] aggregates skipped: no scores yet for {', '.join(sorted(missing))}")
        return True
    final = final_stage(defs)
    echo(f"[xpertbench] meta-evaluation and aggregates: {', '.join(final)}")
    ok, run_id = execute(instance, final, tags=tags)
    if not ok:
        echo(f"[xpertbench] meta-evaluation and aggregates FAILED; see run {run_id} in the UI")
    return ok
