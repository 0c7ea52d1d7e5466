"""A failing blocking check shows its reason in the UI (headless Chromium, `dagster dev` on 127.0.0.1).

The test's data make it fail: the judge is the `generic` stand-in, which answers in prose, so every
verdict is a judge error and `judge_error_rate` fails for the candidate.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.pipeline.helpers import models_yaml, pipeline_yaml, small_raw_folder
from tests.ui.dagster_dev import NO_AUTOMATION, WHOLE_BENCHMARK, DagsterDev, open_ui

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def failed(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-failing-check")
    small_raw_folder(root / "raw", per_domain=1)
    models = models_yaml(root / "models.yaml", candidates=("oracle",), extra_models={
        "standin-judge": {"provider": "standin-openai", "model_id": "standin-generic", "max_tokens": 4096}})
    config = pipeline_yaml(root / "xb.yaml", **NO_AUTOMATION)
    with DagsterDev(root, raw=root / "raw", models=models, config=config) as server:
        assert server.wait_run(server.launch(WHOLE_BENCHMARK)) == "FAILURE"
        yield server


def test_a_failing_check_shows_its_reason(failed, page, shots):
    open_ui(page, failed, "/assets/judgements?view=checks")
    check = page.get_by_text("judge_error_rate", exact=True).first
    expect(check).to_be_visible()
    check.click()
    # The check's own explanation: figure, limit, judge and model, and the next step.
    # The figure and limit in either unit: 1.00 > 0.05, or 100.0% > 5.0% (percent, issue 14).
    reason = page.get_by_text(re.compile(r"judge_error_rate \S+ > \S+ for standin-judge judging oracle \(112 of 112"))
    expect(reason.first).to_be_visible()
    expect(page.get_by_text(re.compile(r"Next: the judge does not follow the reply format")).first).to_be_visible()
    expect(page.get_by_text("Failed", exact=True).first).to_be_visible()
    shots("failing-check")
