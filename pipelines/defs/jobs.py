"""`whole_benchmark`: one click in the UI (Jobs -> whole_benchmark -> Launch run) for every asset and partition.

An asset job cannot hold partitioned and unpartitioned assets together, and the UI's "Materialize
all" asks for partitions. So this is a small unpartitioned op job whose one op drives the same
orchestration as `xpertbench run` (pipelines/cli/orchestrate.py `run_all`) against the run's own
instance: observe the sources, curation, one run per candidate model partition, then agreement,
aggregates and report, checks included. Each of those is a normal Dagster run with normal
materialisation records, so staleness, lineage and the asset pages stay exactly as with
per-asset launches. LLM calls already in the call store are not sent again.
"""


from collections.abc import Callable

import dagster as dg

JOB_NAME = "whole_benchmark"
_STOPPING = (dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.CANCELED)


def whole_benchmark_job(inner: Callable[[], dg.Definitions]) -> dg.JobDefinition:
    """The job; `inner()` gives the definitions (assets, checks, resources) the op materialises."""

    @dg.op(name="materialize_whole_benchmark", out=dg.Out(dg.Nothing),
           description="Observe raw_submissions and model_configs, materialise curation, every model partition "
           "(generations, judgements, task_scores), then agreement, aggregates and the report, each as its own "
           "Dagster run with its checks; stops at the first failing stage, as `xpertbench run` does.")
    def materialize_whole_benchmark(context: dg.OpExecutionContext) -> None:
        from pipelines.cli.orchestrate import run_all  # the CLI layer; imported when the op runs

        started: list[str] = []

        def echo(line: str) -> None:
            # Called before each stage: a cancel from the UI stops before the next stage starts.
            run = context.instance.get_run_by_id(context.run_id)
            if run is not None and run.status in _STOPPING:
                raise dg.Failure("whole_benchmark canceled; stages already run keep their materialisations")
            started.append(line)
            context.log.info(line)

        ok = run_all(context.instance, inner(), echo=echo)
        if not ok:
            raise dg.Failure("a stage of the whole benchmark failed", metadata={
                "log": dg.MetadataValue.md("\n".join(f"- {s}" for s in started))})

    @dg.job(name=JOB_NAME, executor_def=dg.in_process_executor,  # one op: a subprocess would only add start-up
            tags={"xpertbench/kind": JOB_NAME},
            description="Materialise every asset for every candidate model partition, with all checks, in dependency "
            "order (what `xpertbench run` does). Launch it from the UI with no partition dialog; each stage appears "
            "as its own run.")
    def whole_benchmark() -> None:
        materialize_whole_benchmark()

    return whole_benchmark
