"""`make ui` serves every asset with its group, code version and checks (dagster dev on loopback)."""

import pytest

from tests.ui.dagster_dev import DagsterDev

QUERY = """{ assetNodes { assetKey { path } groupName opVersion description
             assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }"""


@pytest.fixture()
def ui(tmp_path):
    # The project's raw folder, models and pipeline config, as `make ui`; a temporary instance and assets.
    with DagsterDev(tmp_path) as dev:
        yield dev


def test_ui_lists_assets_with_groups_versions_and_checks(ui):
    nodes = ui.query(QUERY)["assetNodes"]
    by_name = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    assert {"raw_submissions", "submissions", "tasks", "rubrics", "gold_tasks", "generations", "judgements",
            "task_scores", "judge_agreement", "leaderboard", "report"} <= set(by_name)
    for name, n in by_name.items():
        assert n["groupName"] and n["description"], name
        if name not in ("raw_submissions", "model_configs"):  # observable sources have no code version
            assert n["opVersion"], name
    checks = {c["name"]: c["blocking"] for n in nodes for c in n["assetChecksOrError"].get("checks", [])}
    assert checks == {"rubrics_gx_suite": True, "tasks_gx_suite": True, "judge_error_rate": True,
                      "all_gold_tasks_scored": True}
