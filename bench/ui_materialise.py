"""UI time of "materialise everything" on the sample corpus, clicked in a real browser.

Each repeat starts a fresh `dagster dev` on 127.0.0.1 (new DAGSTER_HOME and assets folder, so every
stage runs and every LLM call is sent to the stand-in models), with the repository's raw_submissions/,
models.yaml and xpertbench.yaml and the project instance's settings (.dagster_home/dagster.yaml).
Headless Debian Chromium opens Jobs -> whole_benchmark -> Launchpad and clicks "Launch Run"; the
clock runs from that click until the run page shows "Success". The run's own duration (start to
end, from Dagster) is reported beside it: the difference is queueing and run start-up.

    .venv/bin/python bench/ui_materialise.py [--repeats 3] [--automation]

By default the automation sensors start stopped (`automation.default_status=stopped`), so the click
is the only thing that launches work; --automation leaves them as xpertbench.yaml says.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipelines.paths import PROJECT_ROOT  # noqa: E402
from tests.ui.dagster_dev import (  # noqa: E402
    WHOLE_BENCHMARK, DagsterDev, chromium, open_ui, wait_until,
)


def one_repeat(browser, root: Path, automation: bool, shot: Path) -> dict[str, float | str]:
    instance = (PROJECT_ROOT / ".dagster_home" / "dagster.yaml").read_text()
    overrides = None if automation else "automation.default_status=stopped"
    t0 = time.monotonic()
    with DagsterDev(root, raw=PROJECT_ROOT / "raw_submissions", models=PROJECT_ROOT / "models.yaml",
                    config=PROJECT_ROOT / "xpertbench.yaml", overrides=overrides, instance_yaml=instance) as dev:
        ready_s = time.monotonic() - t0
        ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
        ctx.set_default_timeout(1_800_000)  # hang guard only
        page = ctx.new_page()
        try:
            open_ui(page, dev, f"/locations/xpertbench/jobs/{WHOLE_BENCHMARK}")
            page.get_by_role("tab", name="Launchpad").click()
            launch = page.get_by_role("button", name="Launch Run")
            launch.wait_for()
            clicked = time.monotonic()
            launch.click()
            page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}"))
            run_id = page.url.rstrip("/").rsplit("/", 1)[-1]
            page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first.wait_for()  # the run page, live
            ui_s = time.monotonic() - clicked
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot))
            run = wait_until("the run's record", lambda: dev.run(run_id), limit_s=60)
        finally:
            ctx.close()
        return {"status": run["status"], "ui_s": ui_s, "run_s": run["endTime"] - run["startTime"],
                "ready_s": ready_s, "runs": len(dev.runs(1000))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--automation", action="store_true", help="sensors as xpertbench.yaml says (default: stopped)")
    args = ap.parse_args()
    rows = []
    with chromium() as browser:
        for i in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="xb-ui-bench-") as tmp:
                rows.append(one_repeat(browser, Path(tmp), args.automation,
                                       PROJECT_ROOT / "bench" / "results" / f"ui_materialise-{i + 1}.png"))
            print(f"repeat {i + 1}: {rows[-1]}", flush=True)
    table = Table(title=f"whole_benchmark launched from the UI, sample corpus, stand-ins ({args.repeats} repeats)")
    for col in ("repeat", "status", "click to Success (s)", "run start to end (s)", "runs in instance",
                "dagster dev ready (s)"):
        table.add_column(col)
    for i, r in enumerate(rows, 1):
        table.add_row(str(i), str(r["status"]), f"{r['ui_s']:.1f}", f"{r['run_s']:.1f}", str(r["runs"]),
                      f"{r['ready_s']:.1f}")
    med = {k: f"{statistics.median(r[k] for r in rows):.1f}" for k in ("ui_s", "run_s", "ready_s")}
    table.add_row("median", "", med["ui_s"], med["run_s"], "", med["ready_s"])
    Console().print(table)
    if any(r["status"] != "SUCCESS" for r in rows):
        raise SystemExit("a repeat did not succeed")


if __name__ == "__main__":
    main()
