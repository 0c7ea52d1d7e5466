"""The Dagster UI as the workbench, driven in headless Chromium against `dagster dev` on 127.0.0.1.

One server for the module over a small raw folder (7 tasks) and the stand-in models. Tests that need
materialised assets take `materialised`, which launches `whole_benchmark` once (through GraphQL)
unless a test already did it from the browser, so any order works.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from playwright.sync_api import expect

from tests.pipeline.helpers import models_yaml, pipeline_yaml, small_raw_folder
from tests.ui.dagster_dev import (
    DagsterDev, NO_AUTOMATION, WHOLE_BENCHMARK, launch_whole_benchmark_from_ui, open_ui, wait_until,
)

pytestmark = pytest.mark.slow
GROUPS = {"ingest", "curation", "rubrics", "gold", "generation", "judging", "scoring", "reporting"}
GROUP_NODE = '[class*="CollapsedGroupNode"] [data-tooltip="{}"]'  # a group box in the lineage graph


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-workbench")
    small_raw_folder(root / "raw", per_domain=1)
    with DagsterDev(root, raw=root / "raw", models=models_yaml(root / "models.yaml"),
                    config=pipeline_yaml(root / "xb.yaml", **NO_AUTOMATION)) as server:
        assert server.running_sensors() == []  # only the test's clicks launch runs
        yield server


@pytest.fixture(scope="module")
def materialised(dev):
    """The server after one successful whole_benchmark run (launched here only if no test did it yet)."""
    if not any(r["jobName"] == WHOLE_BENCHMARK and r["status"] == "SUCCESS" for r in dev.runs()):
        run_id = dev.launch(WHOLE_BENCHMARK)
        assert dev.wait_run(run_id) == "SUCCESS", dev.log_tail()
    return dev


def test_lineage_graph_shows_every_asset_group(dev, page, shots):
    nodes = dev.query("{ assetNodes { groupName } }")["assetNodes"]
    groups = {n["groupName"] for n in nodes}
    assert groups == GROUPS  # the definitions' groups; the UI must show each of them
    open_ui(page, dev, "/asset-groups")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    for g in sorted(groups):
        expect(page.locator(GROUP_NODE.format(g))).to_be_visible()
    shots("lineage")


def test_whole_benchmark_launches_from_the_ui_and_succeeds(dev, page, shots):
    before = {a: dev.last_materialization(a) for a in ("leaderboard", "report")}
    run_id = launch_whole_benchmark_from_ui(page, dev)
    shots("launched")
    assert dev.wait_run(run_id) == "SUCCESS", dev.log_tail()
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()  # the run page follows the run live
    shots("succeeded")
    for asset, old in before.items():  # the job reached the end of the pipeline in this run
        new = dev.last_materialization(asset)
        assert new is not None and (old is None or float(new["timestamp"]) > float(old["timestamp"])), asset


def test_leaderboard_page_shows_the_leaderboard_table(materialised, page, shots):
    board = pd.read_parquet(materialised.assets / "leaderboard.parquet").sort_values("rank")
    models = list(board["model"])
    assert len(models) == 3
    open_ui(page, materialised, "/assets/leaderboard")
    # A table in the page (not behind "[Show Markdown]") whose header names the score and whose
    # rows are the board's models, in rank order.
    innermost = page.locator("table:not(:has(table))")
    table = innermost.filter(has=page.locator("thead", has_text="score")).filter(has_text=models[0])
    expect(table.first).to_be_visible()
    rows = table.first.locator("tbody tr")
    expect(rows).to_have_count(len(models))
    table.first.scroll_into_view_if_needed()
    shots("leaderboard")
    texts = rows.all_inner_texts()
    assert [next(m for m in models if re.search(rf"\b{m}\b", t)) for t in texts] == models


def edit_one_submission(raw) -> str:
    path = sorted(raw.glob("*.json"))[0]
    doc = json.loads(path.read_text())
    doc["task"]["background"] += " An expert's late correction."
    path.write_text(json.dumps(doc, indent=1))
    return path.stem


def test_an_edited_submission_turns_stale_then_fresh_after_materialising(materialised, page, shots):
    dev = materialised
    unsynced = page.get_by_text(re.compile(r"^Unsynced"))
    open_ui(page, dev, "/assets/submissions")
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    expect(unsynced).to_have_count(0)

    edit_one_submission(dev.settings.raw_dir)
    # Lineage -> the menu beside "Materialize all" -> "Observe all": the sources get their new data versions.
    open_ui(page, dev, "/asset-groups")
    materialize_all = page.get_by_role("button", name=re.compile(r"Materialize all"))
    materialize_all.locator("xpath=ancestor::span[1]/following-sibling::span[1]//button").click()  # the caret
    known = {r["runId"] for r in dev.runs()}
    page.get_by_role("menuitem", name=re.compile(r"Observe all")).click()
    expect(page.get_by_text(re.compile(r"Launched run"))).to_be_visible()
    observe = wait_until("the observation run", lambda: [r["runId"] for r in dev.runs() if r["runId"] not in known],
                         limit_s=120)
    assert len(observe) == 1 and dev.wait_run(observe[0]) == "SUCCESS", dev.log_tail()
    for asset in ("submissions", "tasks"):
        open_ui(page, dev, f"/assets/{asset}")
        expect(unsynced).to_be_visible()
        shots(f"{asset}-unsynced")

    run_id = launch_whole_benchmark_from_ui(page, dev)
    assert dev.wait_run(run_id) == "SUCCESS", dev.log_tail()
    for asset in ("submissions", "tasks"):
        open_ui(page, dev, f"/assets/{asset}")
        # "Latest materialization" comes with the staleness in one live-data answer: once it shows,
        # an Unsynced tag would show too.
        expect(page.get_by_text("Latest materialization")).to_be_visible()
        expect(unsynced).to_have_count(0)
        shots(f"{asset}-fresh")


def test_report_html_loads_with_no_console_error_and_no_outside_request(materialised, page, shots):
    html = materialised.assets / "report" / "report.html"
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed {r.url}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(html.as_uri(), wait_until="load")
    expect(page.get_by_role("heading", name="Leaderboard")).to_be_visible()
    images = page.locator("img")
    assert images.count() > 0
    assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")  # every chart shows
    shots("report")
    assert errors == []
    outside = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert outside == [] and requests[0] == html.as_uri()
