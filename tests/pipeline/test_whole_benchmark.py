"""`whole_benchmark`: one unpartitioned job that materialises every asset, partition and check."""

import dagster as dg

from pipelines.defs.jobs import JOB_NAME
from tests.pipeline.helpers import models_yaml, pipeline_defs, pipeline_yaml, small_raw_folder


def test_whole_benchmark_materialises_every_asset_and_partition_with_checks(tmp_path):
    small_raw_folder(tmp_path / "raw", per_domain=1)
    defs = pipeline_defs(tmp_path / "raw", tmp_path / "assets", pipeline_yaml(tmp_path / "xb.yaml"),
                         models_yaml(tmp_path / "m.yaml"))
    job = defs.resolve_job_def(JOB_NAME)
    assert job.partitions_def is None  # the UI launches it with no partition dialog
    (tmp_path / "home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as inst:
        result = job.execute_in_process(instance=inst)
        assert result.success
        graph = defs.resolve_asset_graph()
        missing = []
        for key in graph.materializable_asset_keys:
            node = graph.get(key)
            if node.is_partitioned:
                done = set(inst.get_materialized_partitions(key))
                missing += [f"{key.to_user_string()}[{p}]" for p in {"oracle", "partial", "generic"} - done]
            elif inst.get_latest_materialization_event(key) is None:
                missing.append(key.to_user_string())
        assert missing == []
        # Normal per-asset records: the stages ran as their own runs, and nothing is left for automation to do.
        runs = [r for r in inst.get_runs() if r.job_name != JOB_NAME]
        assert {r.tags.get("dagster/partition") for r in runs} >= {"oracle", "partial", "generic", None}
        assert dg.evaluate_automation_conditions(defs=defs, instance=inst).total_requested == 0
        # Every check ran and passed, per model partition too.
        evaluated = {(e.asset_key.to_user_string(), e.check_name, e.partition) for r in runs
                     for e in _check_evaluations(inst, r.run_id) if e.passed}
        assert {("rubrics", "rubrics_gx_suite", None), ("tasks", "tasks_gx_suite", None)} <= evaluated
        for m in ("oracle", "partial", "generic"):
            assert ("task_scores", "all_gold_tasks_scored", m) in evaluated


def _check_evaluations(inst: dg.DagsterInstance, run_id: str) -> list:
    records = inst.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    return [r.event_log_entry.dagster_event.event_specific_data for r in records]
