"""`dagster dev` on 127.0.0.1 for the browser tests, tests/pipeline/test_ui_smoke.py and the bench scripts
(bench/ui_materialise.py, bench/automation_soak.py), and Chromium driven by Playwright.

The server gets its own DAGSTER_HOME and assets folder under one temporary root, the raw folder,
models and pipeline config it is given, is started through `run_with_default_signals` (signals
ignored by a background parent would otherwise make it unstoppable) in its own process group, is
ready when its GraphQL API reports the code location loaded, and is stopped with SIGINT to the
group, then SIGKILL (`pipelines.cli.graphql.stop_group`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipelines.cli.graphql import free_port, location_loaded, post_query, stop_group
from pipelines.paths import PROJECT_ROOT
from pipelines.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (`make browser`); Playwright never downloads one
LOCATION = "xpertbench"  # [tool.dagster] code_location_name
SENSORS = """{ sensorsOrError(repositorySelector: {repositoryName: "__repository__",
  repositoryLocationName: "xpertbench"}) { ... on Sensors { results { name sensorState { status } } } } }"""
RUNS = """query($limit: Int, $statuses: [RunStatus!]) { runsOrError(limit: $limit, filter: {statuses: $statuses}) {
  ... on Runs { results { runId status jobName tags { key value } assetSelection { path }
  creationTime startTime endTime } } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { __typename
  ... on Run { runId status jobName creationTime startTime endTime } } }"""
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } ... on InvalidSubsetError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""
LAST_MATERIALIZED = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
  assetMaterializations(limit: 1) { runId timestamp } } } }"""
DONE = {"SUCCESS", "FAILURE", "CANCELED"}
ACTIVE = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]
WHOLE_BENCHMARK = "whole_benchmark"  # pipelines/defs/jobs.py: every asset, partition and check, no partition dialog


INSTANCE_YAML = "telemetry:\n  enabled: false\n"
# Sensors stopped at start (xpertbench.yaml `automation.default_status`): nothing but the test, or the
# person at the browser, launches runs, so what the UI shows follows from the clicks. Automation has
# its own tests (tests/pipeline/test_automation.py, tests/ui/test_automation_soak.py).
NO_AUTOMATION = {"automation": {"default_status": "stopped"}}


def wait_until(what: str, probe: Callable[[], Any], *, limit_s: float, every_s: float = 0.5) -> Any:
    """Poll probe until it returns something truthy; limit_s is a hang guard, not a timing assertion."""
    deadline = time.monotonic() + limit_s
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {limit_s:g} s")
        time.sleep(every_s)


class DagsterDev:
    """One `dagster dev` (webserver + daemon + code server) over a temporary root.

    `with DagsterDev(root, raw=..., models=..., config=..., overrides=...) as dev: dev.query(...)`;
    raw, models and config default as `Settings.load` defaults them; overrides as XPERTBENCH_SET.
    """

    def __init__(self, root: Path, *, raw: Path | None = None, models: Path | None = None,
                 config: Path | None = None, overrides: Mapping[str, Any] | str | None = None,
                 instance_yaml: str = INSTANCE_YAML, extra_env: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.assets = root / "assets"
        self.home = root / "dagster_home"
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text(instance_yaml)
        self.settings = Settings.load(raw_dir=raw, assets_dir=self.assets, config=config, models=models,
                                      overrides=overrides, env={})
        self.env = {**os.environ, **self.settings.to_env(), "DAGSTER_HOME": str(self.home), **(extra_env or {})}
        self.log_path = root / "dagster-dev.log"
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DagsterDev:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, *, limit_s: float = 300) -> DagsterDev:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        dagster = Path(sys.executable).parent / "dagster"
        with self.log_path.open("ab") as log:
            # Own session: SIGINT to the group reaches dagster dev, its webserver, daemon and code servers.
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "pipelines.cli.run_with_default_signals", str(dagster), "dev",
                 "-h", "127.0.0.1", "-p", str(port)],
                cwd=PROJECT_ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_until("the code location to load", self._loaded, limit_s=limit_s)
        return self

    def _loaded(self) -> bool:
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited: {self.log_tail()}")
        return location_loaded(self.url)

    def query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return post_query(self.url, document, variables)

    def running_sensors(self) -> list[str]:
        return [s["name"] for s in self.query(SENSORS)["sensorsOrError"]["results"]
                if s["sensorState"]["status"] == "RUNNING"]

    def runs(self, limit: int | None = None, statuses: list[str] | None = None) -> list[dict[str, Any]]:
        """The instance's runs, newest first: all, or the latest limit; only those in statuses if given."""
        return self.query(RUNS, {"limit": limit, "statuses": statuses})["runsOrError"]["results"]

    def run(self, run_id: str) -> dict[str, Any]:
        return self.query(RUN, {"id": run_id})["runOrError"]

    def launch(self, job: str) -> str:
        """Launch a job of the code location through GraphQL (what the Launchpad does); returns the run id."""
        got = self.query(LAUNCH, {"p": {"selector": {"repositoryLocationName": LOCATION,
                                                     "repositoryName": "__repository__", "jobName": job},
                                        "runConfigData": {}}})["launchRun"]
        if got["__typename"] != "LaunchRunSuccess":
            raise RuntimeError(f"launching {job}: {got}")
        return got["run"]["runId"]

    def wait_run(self, run_id: str, *, limit_s: float = 900) -> str:
        """The run's final status (SUCCESS, FAILURE or CANCELED), polled; limit_s only bounds a hang."""
        def final() -> str | None:
            status = self.run(run_id).get("status")
            return status if status in DONE else None
        return wait_until(f"run {run_id} to finish", final, limit_s=limit_s)

    def last_materialization(self, asset: str) -> dict[str, Any] | None:
        """{runId, timestamp (ms, string)} of the asset's latest materialisation, or None."""
        got = self.query(LAST_MATERIALIZED, {"key": {"path": [asset]}})["assetOrError"]
        events = got.get("assetMaterializations") or []
        return events[0] if events else None

    def log_tail(self, chars: int = 3000) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return text[-chars:].strip() or "(no output)"

    def stop(self) -> None:
        """SIGINT to the group (dagster dev shuts its services down), SIGKILL for whatever is left; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_group(proc, grace_s=60)


def open_ui(page: Any, dev: DagsterDev, path: str) -> None:
    # Dagster's first-visit "Join the community" dialog would cover what the test clicks.
    page.add_locator_handler(page.get_by_text("Join the Dagster community"),
                             lambda: page.get_by_role("button", name="Skip").click())
    page.goto(dev.url + path)


def launch_whole_benchmark_from_ui(page: Any, dev: DagsterDev) -> str:
    """Jobs -> whole_benchmark -> Launchpad -> Launch Run, as a person does; returns the run id from the URL."""
    open_ui(page, dev, f"/locations/xpertbench/jobs/{WHOLE_BENCHMARK}")
    page.get_by_role("tab", name="Launchpad").click()
    page.get_by_role("button", name="Launch Run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    return page.url.rstrip("/").rsplit("/", 1)[-1]


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium under Playwright's sync API (the caller opens contexts and pages)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()
