"""Declarative automation (what the daemon does under `make ui`): a raw edit flows downstream."""

import json

import dagster as dg

from pipelines.cli.orchestrate import CURATION, materialize, run_all
from tests.pipeline.helpers import pipeline_defs, models_yaml, pipeline_yaml, small_raw_folder


def requested(defs, result) -> dict[str, set]:
    out = {}
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        if result.get_num_requested(key):
            out[key.to_user_string()] = result.get_requested_partitions(key)
    return out


def test_sensor_logic_requests_only_what_an_edit_made_stale(tmp_path):
    small_raw_folder(tmp_path / "raw", per_domain=1)
    res = pipeline_defs(str(tmp_path / "raw"), str(tmp_path / "assets"), str(pipeline_yaml(tmp_path / "xb.yaml")), str(models_yaml(tmp_path / "m.yaml")))
    (tmp_path / "home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as inst:
        assert run_all(inst, defs=res, echo=lambda s: None)
        tick = dg.evaluate_automation_conditions(defs=res, instance=inst)
        assert tick.total_requested == 0  # everything is up to date

        path = tmp_path / "raw" / "t-covenant-0.json"
        doc = json.loads(path.read_text())
        doc["task"]["deliverables"] += " Add a glossary."
        path.write_text(json.dumps(doc))
        materialize(res, inst, ["raw_submissions"])  # the sensor's periodic observation
        tick = dg.evaluate_automation_conditions(defs=res, instance=inst, cursor=tick.cursor)
        got = requested(res, tick)
        assert {"submissions", "tasks", "rubrics", "gold_tasks"} <= set(got)
        assert "generations" not in got  # partitioned stages follow once their parents are updated

        assert materialize(res, inst, CURATION).success
        tick = dg.evaluate_automation_conditions(defs=res, instance=inst, cursor=tick.cursor)
        got = requested(res, tick)
        assert got["generations"] == got["judgements"] == {"oracle", "partial", "generic"}
