"""Automation under the daemon (`make ui`), evaluated tick by tick on a real instance.

Quiet: observing the sources costs no run. Consistent: the final stage (agreement, aggregates,
report) runs only once every model partition is up to date with the same upstream versions. No
spending by itself: LLM stages are automated only as `automation.llm_stages` allows.
"""

import json

import dagster as dg
import yaml

from pipelines.cli.orchestrate import CURATION, materialize, run_all
from tests.pipeline.helpers import models_yaml, pipeline_defs, pipeline_yaml, reports_from_mixed_versions, small_raw_folder

MODELS = ("oracle", "partial", "generic")
LLM = {"generations", "judgements", "anchor_judgements"}


def requested(defs, result) -> dict[str, set]:
    out = {}
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        if result.get_num_requested(key):
            out[key.to_user_string()] = result.get_requested_partitions(key)
    return out


def tick_sensor(defs, inst, name: str, cursor: str | None = None):
    """One evaluation of a sensor as the daemon does it: its observations are stored, its result returned."""
    sensor = defs.resolve_sensor_def(name)
    result = sensor(dg.build_sensor_context(instance=inst, cursor=cursor, definitions=defs))
    for event in getattr(result, "asset_events", None) or []:
        inst.report_runless_asset_event(event)
    return result


def edit(path, text: str) -> None:
    doc = json.loads(path.read_text())
    doc["task"]["deliverables"] += text
    path.write_text(json.dumps(doc))


def setup(tmp_path, **sections):
    small_raw_folder(tmp_path / "raw", per_domain=1)
    defs = pipeline_defs(tmp_path / "raw", tmp_path / "assets", pipeline_yaml(tmp_path / "xb.yaml", **sections),
                         models_yaml(tmp_path / "m.yaml"))
    (tmp_path / "home").mkdir()
    return defs


def test_sensor_logic_requests_only_what_an_edit_made_stale(tmp_path):
    res = setup(tmp_path)
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as inst:
        assert run_all(inst, defs=res, echo=lambda s: None)
        tick = dg.evaluate_automation_conditions(defs=res, instance=inst)
        assert tick.total_requested == 0  # everything is up to date

        edit(tmp_path / "raw" / "t-covenant-0.json", " Add a glossary.")
        tick_sensor(res, inst, "xpertbench_observe")  # the sensor's observation (no run)
        tick = dg.evaluate_automation_conditions(defs=res, instance=inst, cursor=tick.cursor)
        got = requested(res, tick)
        assert {"submissions", "tasks", "rubrics", "gold_tasks"} <= set(got)
        assert "generations" not in got  # partitioned stages follow once their parents are updated

        assert materialize(res, inst, CURATION).success
        tick = dg.evaluate_automation_conditions(defs=res, instance=inst, cursor=tick.cursor)
        got = requested(res, tick)
        assert got["generations"] == got["judgements"] == set(MODELS)


def test_observing_costs_no_run_and_records_only_new_data_versions(tmp_path):
    res = setup(tmp_path)
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as inst:
        assert run_all(inst, defs=res, echo=lambda s: None)
        runs = len(inst.get_runs())
        assert isinstance(tick_sensor(res, inst, "xpertbench_observe"), dg.SkipReason)  # nothing changed
        edit(tmp_path / "raw" / "t-covenant-0.json", " Add a glossary.")
        result = tick_sensor(res, inst, "xpertbench_observe")
        assert [e.asset_key.to_user_string() for e in result.asset_events] == ["raw_submissions"]
        assert isinstance(tick_sensor(res, inst, "xpertbench_observe"), dg.SkipReason)  # recorded once
        models = yaml.safe_load((tmp_path / "m.yaml").read_text())
        models["models"]["partial"]["temperature"] = 0.5
        (tmp_path / "m.yaml").write_text(yaml.safe_dump(models))
        result = tick_sensor(res, inst, "xpertbench_observe")
        assert [(e.asset_key.to_user_string(), e.partition) for e in result.asset_events] == [("model_configs", "partial")]
        assert len(inst.get_runs()) == runs  # not one run for observing


def test_a_fresh_instance_builds_when_the_sources_are_observed_before_the_first_evaluation(tmp_path):
    """The daemon may run the observe sensor before (or in the same tick as) the automation sensor's first
    evaluation, which Dagster's eager() treats as already handled: curation must still be requested."""
    res = setup(tmp_path)
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as inst:
        assert isinstance(tick_sensor(res, inst, "xpertbench_observe"), dg.SensorResult)  # sources recorded first
        tick = dg.evaluate_automation_conditions(defs=res, instance=inst)  # the initial evaluation
        got = set(requested(res, tick))
        tick = dg.evaluate_automation_conditions(defs=res, instance=inst, cursor=tick.cursor)
        got |= set(requested(res, tick))
        assert {"submissions", "submission_quarantine", "tasks", "curation_log"} <= got


def test_report_waits_until_every_model_partition_has_the_new_versions(tmp_path):
    res = setup(tmp_path)
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as inst:
        assert run_all(inst, defs=res, echo=lambda s: None)
        cursor = None
        for source in ("raw_submissions", "model_configs"):  # re-observed, same versions (as `refresh` does)
            assert materialize(res, inst, [source]).success
        assert tick_sensor(res, inst, "xpertbench_report").skip_message == "up to date"

        tick = dg.evaluate_automation_conditions(defs=res, instance=inst)  # the daemon's tick before the edit
        edit(tmp_path / "raw" / "t-covenant-0.json", " Give every figure in euros.")
        tick_sensor(res, inst, "xpertbench_observe")
        since = inst.fetch_observations(dg.AssetKey("raw_submissions"), limit=1).records[0].storage_id
        tick = dg.evaluate_automation_conditions(defs=res, instance=inst, cursor=tick.cursor)
        reports = 0
        # Follow the declarative requests, but materialise one model partition at a time and ask the
        # report sensor after each partial step, as a slow daemon would interleave them.
        for _ in range(12):
            got = requested(res, tick)
            plan = [(sorted(k for k, v in got.items() if v == {None} or not v), None)]
            for m in MODELS:
                plan.append((sorted(k for k, v in got.items() if m in v), m))
            for selection, pk in plan:
                if selection:
                    assert materialize(res, inst, selection, partition_key=pk).success
                result = tick_sensor(res, inst, "xpertbench_report", cursor)
                if isinstance(result, dg.SensorResult) and result.run_requests:
                    cursor = result.cursor
                    (req,) = result.run_requests
                    keys = [k.to_user_string() for k in req.asset_selection]
                    assert materialize(res, inst, keys).success
                    reports += 1
            tick = dg.evaluate_automation_conditions(defs=res, instance=inst, cursor=tick.cursor)
            if not tick.total_requested and reports:
                break
        assert reports_from_mixed_versions(inst, since, MODELS) == []
        assert reports == 1  # built once, after the partitions, not again for the same state
        assert tick_sensor(res, inst, "xpertbench_report", cursor).skip_message in (
            "up to date", "already requested for this upstream state")


def paid_models(path):
    models_yaml(path)
    doc = yaml.safe_load(path.read_text())
    doc["providers"]["paid"] = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "needs_key": False}
    doc["models"]["partial"]["provider"] = "paid"
    path.write_text(yaml.safe_dump(doc))
    return path


def automated(defs) -> set[str]:
    """Assets some sensor may request: an automation condition, or the report sensor's target."""
    graph = defs.resolve_asset_graph()
    out = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).automation_condition}
    report = defs.resolve_sensor_def("xpertbench_report")
    return out | {k.to_user_string() for k in report.job.selection.resolve(graph)}


def test_llm_stages_are_automated_only_as_the_config_allows(tmp_path):
    raw, assets = tmp_path / "raw", tmp_path / "assets"
    small_raw_folder(raw, per_domain=1)
    standins = pipeline_defs(raw, assets, pipeline_yaml(tmp_path / "a.yaml"), models_yaml(tmp_path / "s.yaml"))
    paid = pipeline_defs(raw, assets, pipeline_yaml(tmp_path / "a.yaml"), paid_models(tmp_path / "p.yaml"))
    allowed = pipeline_defs(raw, assets, pipeline_yaml(tmp_path / "b.yaml", automation={"llm_stages": True}),
                            paid_models(tmp_path / "p.yaml"))  # `llm_stages: on` in YAML is a boolean
    off = pipeline_defs(raw, assets, pipeline_yaml(tmp_path / "c.yaml", automation={"llm_stages": "off"}),
                        models_yaml(tmp_path / "s.yaml"))
    assert LLM <= automated(standins) and LLM <= automated(allowed)
    assert not LLM & automated(paid) and not LLM & automated(off)
    assert {"task_scores", "leaderboard", "report"} <= automated(paid)

    # With a paid provider, ticks over an empty instance request curation, never an LLM stage.
    (tmp_path / "home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as inst:
        tick = dg.evaluate_automation_conditions(defs=paid, instance=inst)  # the daemon starts
        tick_sensor(paid, inst, "xpertbench_observe")  # first observation of the sources
        tick = dg.evaluate_automation_conditions(defs=paid, instance=inst, cursor=tick.cursor)
        assert "submissions" in requested(paid, tick)
        assert materialize(paid, inst, CURATION).success
        tick = dg.evaluate_automation_conditions(defs=paid, instance=inst, cursor=tick.cursor)
        assert not LLM & set(requested(paid, tick))
        assert isinstance(tick_sensor(paid, inst, "xpertbench_report"), dg.SkipReason)


def test_sensors_start_as_configured(tmp_path):
    raw = tmp_path / "raw"
    small_raw_folder(raw, per_domain=1)
    on = pipeline_defs(raw, tmp_path / "a", pipeline_yaml(tmp_path / "a.yaml"), models_yaml(tmp_path / "m.yaml"))
    off = pipeline_defs(raw, tmp_path / "a", pipeline_yaml(tmp_path / "b.yaml", automation={"default_status": "stopped"}),
                        models_yaml(tmp_path / "m.yaml"))
    names = ["xpertbench_observe", "xpertbench_automation", "xpertbench_report"]
    assert {on.resolve_sensor_def(n).default_status for n in names} == {dg.DefaultSensorStatus.RUNNING}
    assert {off.resolve_sensor_def(n).default_status for n in names} == {dg.DefaultSensorStatus.STOPPED}
