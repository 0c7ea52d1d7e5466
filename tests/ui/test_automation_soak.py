"""A short automation soak (bench/automation_soak.py) under the real daemon: `dagster dev` on 127.0.0.1.

From an empty instance the sensors materialise everything, then one submission is edited. Asserted on
run and event-log records (never on elapsed time; the limits are hang guards): observing costs no run,
no asset partition is targeted by two active runs at once, the queue stays within one run per
automated asset partition, no run fails, and the edit reaches a report built from the new versions only.
"""

import pytest

from bench.automation_soak import soak
from tests.pipeline.helpers import pipeline_yaml, small_raw_folder

# One run per automated asset partition at most: 7 curation assets, 3 per-model assets x 3 models, 1 final run.
BOUND = 7 + 3 * 3 + 1


@pytest.mark.timeout(2400)  # hang guard: on a busy 2-core machine the daemon takes minutes per pass
def test_soak_queue_stays_bounded_and_an_edit_reaches_a_consistent_report(tmp_path):
    small_raw_folder(tmp_path / "raw", per_domain=1)
    figures = soak(tmp_path / "soak", raw=tmp_path / "raw", edit="t-covenant-0.json", minutes=0, interval_s=5,
                   sample_s=1, stop_at_fresh_report=True, hang_s=2000, config=pipeline_yaml(tmp_path / "xb.yaml"),
                   echo=print)
    print(figures)
    assert figures["runs_by_kind"].get("observation", 0) == 0
    assert figures["max_duplicated"] == 0
    assert figures["max_queued"] <= BOUND
    assert figures["failed_runs"] == 0
    assert figures["edit_to_report_s"] is not None  # the edit reached the report
    assert figures["reports_from_mixed_versions"] == []
