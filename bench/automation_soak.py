"""Automation soak: `dagster dev` with its daemon for N minutes, the run queue sampled, one submission edited.

Starts `dagster dev` (through pipelines/cli/run_with_default_signals.py, on 127.0.0.1, in its own
process group) over a temporary DAGSTER_HOME, assets folder and a copy of the raw folder (default:
the project's sample corpus), with the stand-in models. The sensors start as `make ui` starts them,
so the daemon first materialises everything; the run queue and the runs in progress are sampled
through the public GraphQL API every `--sample-s`. Once the first report exists and `--edit-after-s`
has passed, one submission is edited; the soak measures the time from that edit to the first report
built from the new versions (checked on the event log: Gold, the rubrics and every model partition
rebuilt before it), and keeps sampling until `--minutes` are over. It prints max and median queued
runs, the runs by kind, and the edit-to-report time; `soak()` is also what tests/ui/test_automation_soak.py runs.

    .venv/bin/python bench/automation_soak.py [--minutes 10] [--interval-s 30] [--sample-s 3]
    .venv/bin/python bench/automation_soak.py --whole-benchmark   # UI time of "materialise everything"
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.paths import DEFAULT_RAW_DIR, PROJECT_ROOT  # noqa: E402
from tests.pipeline.helpers import reports_from_mixed_versions  # noqa: E402
from tests.pipeline.procs import instance_at  # noqa: E402
from tests.ui.dagster_dev import ACTIVE, WHOLE_BENCHMARK, DagsterDev  # noqa: E402

MODELS = ("oracle", "partial", "generic")  # models.yaml's stand-in candidates
SOURCES = {"raw_submissions", "model_configs"}
PROJECT_INSTANCE = (PROJECT_ROOT / ".dagster_home" / "dagster.yaml").read_text()  # as `make ui`: pools included


def start(root: Path, raw: Path, overrides: str, config: Path | None = None) -> DagsterDev:
    """`dagster dev` over root with a copy of raw, the stand-in models and the project instance's settings."""
    shutil.copytree(raw, root / "raw")
    return DagsterDev(root, raw=root / "raw", models=PROJECT_ROOT / "models.yaml", config=config,
                      overrides=overrides, instance_yaml=PROJECT_INSTANCE, extra_env={"PYTHONUNBUFFERED": "1"})


def kind(run: dict) -> str:
    tags = {t["key"]: t["value"] for t in run["tags"]}
    names = {"/".join(a["path"]) for a in run["assetSelection"] or []}
    if run["jobName"] == "whole_benchmark":
        return "whole_benchmark"
    if run["jobName"] == "__ephemeral_asset_job__":
        return "stage run of whole_benchmark"  # in-process runs (pipelines/cli/orchestrate.py materialize)
    if names and names <= SOURCES:
        return "observation"
    if tags.get("xpertbench/kind") == "final":
        return "final stage (agreement, aggregates, report)"
    if "dagster/partition" in tags or names & {"generations", "judgements", "task_scores"}:
        return "model partition"
    return "curation" if names else run["jobName"]


def duplicates(active: list[dict]) -> int:
    """Asset partitions targeted by more than one active run at once."""
    seen = Counter()
    for r in active:
        pk = {t["key"]: t["value"] for t in r["tags"]}.get("dagster/partition")
        seen.update(("/".join(a["path"]), pk) for a in r["assetSelection"] or [])
    return sum(n - 1 for n in seen.values() if n > 1)


def edit_submission(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["task"]["deliverables"] += " State every figure in euros."
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")


def soak(root: Path, *, raw: Path = DEFAULT_RAW_DIR, edit: str = "sample/fin/xb-fin-003.json", minutes: float = 10,
         interval_s: int = 30, sample_s: float = 3, edit_after_s: float = 0, stop_at_fresh_report: bool = False,
         hang_s: float = 1800, config: Path | None = None, echo=print) -> dict:
    """Run the soak under root; returns the figures (see the module docstring)."""
    samples: list[tuple[float, int, int, int]] = []  # (t, queued, active, duplicated asset partitions)
    t_edit = t_report = None
    since = None
    with start(root, raw, f"automation.interval_s={interval_s}", config) as dev:
        t0 = time.monotonic()
        echo(f"[soak] dagster dev on {dev.url}; sampling every {sample_s:g} s for {minutes:g} min")
        with instance_at(dev.home) as inst:
            while True:
                active = dev.runs(statuses=ACTIVE)
                t = time.monotonic() - t0
                samples.append((t, sum(r["status"] == "QUEUED" for r in active), len(active), duplicates(active)))
                reports = inst.fetch_materializations(_report_filter(since), limit=1).records
                if t_edit is None and reports and t >= edit_after_s and not active:
                    edit_submission(root / "raw" / edit)
                    t_edit, wall_edit = t, time.time()
                    since = _latest_storage_id(inst)
                    echo(f"[soak] {t:6.0f} s: first report built; edited {edit}")
                elif t_edit is not None and t_report is None and reports:
                    if not reports_from_mixed_versions(inst, since, MODELS):
                        t_report = reports[0].timestamp - wall_edit + t_edit
                        echo(f"[soak] {t:6.0f} s: report rebuilt from the edit, {t_report - t_edit:.0f} s after it")
                if t_report is not None and stop_at_fresh_report:
                    break
                if t > minutes * 60 and (t_report is not None or t > hang_s):
                    break
                time.sleep(sample_s)
            mixed = reports_from_mixed_versions(inst, since, MODELS) if since is not None else []
        runs = dev.runs()
    queued = [s[1] for s in samples]
    return {
        "minutes": round((samples[-1][0]) / 60, 1), "samples": len(samples),
        "max_queued": max(queued), "median_queued": statistics.median(queued),
        "max_active": max(s[2] for s in samples), "max_duplicated": max(s[3] for s in samples),
        "runs": len(runs), "runs_by_kind": dict(Counter(kind(r) for r in runs).most_common()),
        "failed_runs": sum(r["status"] == "FAILURE" for r in runs),
        "edit_to_report_s": None if t_report is None else round(t_report - t_edit, 1),
        "reports_from_mixed_versions": mixed,
    }


def whole_benchmark(root: Path, *, raw: Path = DEFAULT_RAW_DIR, hang_s: float = 1800, echo=print) -> dict:
    """Launch the whole_benchmark job through GraphQL (what the UI's Launch button sends) with the
    sensors stopped, on an empty instance; the figures: launch to success, and the runs it made."""
    with start(root, raw, "automation.default_status=stopped") as dev:
        t0 = time.monotonic()
        run_id = dev.launch(WHOLE_BENCHMARK)
        dev.wait_run(run_id, limit_s=hang_s)
        elapsed = time.monotonic() - t0
        run, runs = dev.run(run_id), dev.runs()
    echo(f"[whole_benchmark] {run['status']} in {elapsed:.0f} s")
    return {"status": run["status"], "launch_to_end_s": round(elapsed, 1),
            "run_s": round(run["endTime"] - run["startTime"], 1) if run["endTime"] and run["startTime"] else None,
            "runs_by_kind": dict(Counter(kind(r) for r in runs).most_common())}


def _report_filter(since: int | None):
    import dagster as dg

    return dg.AssetRecordsFilter(asset_key=dg.AssetKey("report"), after_storage_id=since)


def _latest_storage_id(inst) -> int:
    """The newest event's storage id: reports after it were started after the edit."""
    import dagster as dg

    records = inst.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey("report")), limit=1).records
    return records[0].storage_id if records else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--interval-s", type=int, default=30, help="sensor interval (automation.interval_s)")
    ap.add_argument("--sample-s", type=float, default=3)
    ap.add_argument("--edit-after-s", type=float, default=300, help="edit no earlier than this (and after the first report)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, instance)")
    ap.add_argument("--whole-benchmark", action="store_true",
                    help="instead: launch the whole_benchmark job (sensors stopped) and time it to its end")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="xb-soak-"))
    try:
        figures = whole_benchmark(root) if args.whole_benchmark else soak(
            root, minutes=args.minutes, interval_s=args.interval_s, sample_s=args.sample_s,
            edit_after_s=args.edit_after_s)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
