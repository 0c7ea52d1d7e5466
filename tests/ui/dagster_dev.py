"""`dagster dev` on 127.0.0.1 for browser tests and bench/ui_materialise.py, and Chromium driven by Playwright.

The server gets its own DAGSTER_HOME, assets folder, raw folder and stand-in models (all under one
temporary root), is started through `run_with_default_signals` (signals ignored by a background
parent would otherwise make it unstoppable) in its own process group, is ready when its GraphQL API
reports the code location loaded, and is stopped with SIGINT to the group, then SIGKILL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipelines.paths import PROJECT_ROOT
from pipelines.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (`make browser`); Playwright never downloads one
LOCATION = "xpertbench"  # [tool.dagster] code_location_name
LOADED = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
SENSORS = """{ sensorsOrError(repositorySelector: {repositoryName: "__repository__",
  repositoryLocationName: "xpertbench"}) { ... on Sensors { results { name sensorState { status } } } } }"""
RUNS = """query($limit: Int) { runsOrError(limit: $limit) { ... on Runs { results {
  runId status jobName creationTime startTime endTime } } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { __typename
  ... on Run { runId status jobName startTime endTime } } }"""
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } ... on InvalidSubsetError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""
LAST_MATERIALIZED = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
  assetMaterializations(limit: 1) { runId timestamp } } } }"""
DONE = {"SUCCESS", "FAILURE", "CANCELED"}
WHOLE_BENCHMARK = "whole_benchmark"  # pipelines/defs/jobs.py: every asset, partition and check, no partition dialog


INSTANCE_YAML = "telemetry:\n  enabled: false\n"
# Sensors stopped at start (xpertbench.yaml `automation.default_status`): nothing but the test, or the
# person at the browser, launches runs, so what the UI shows follows from the clicks. Automation has
# its own tests (tests/pipeline/test_automation.py, tests/ui/test_automation_soak.py).
NO_AUTOMATION = {"automation": {"default_status": "stopped"}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    """One `dagster dev` (webserver + daemon + code server) over a temporary root."""

    def __init__(self, root: Path, *, raw: Path, models: Path, config: Path, instance_yaml: str = INSTANCE_YAML,
                 extra_env: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.assets = root / "assets"
        home = root / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "dagster.yaml").write_text(instance_yaml)
        settings = Settings.load(raw_dir=raw, assets_dir=self.assets, config=config, models=models, env={})
        self.settings = settings
        self.env = {**os.environ, **settings.to_env(), "DAGSTER_HOME": str(home), **(extra_env or {})}
        self.log_path = root / "dagster-dev.log"
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

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
        try:
            entries = self.query(LOADED)["workspaceOrError"]["locationEntries"]
        except (OSError, ValueError, KeyError, TypeError):
            return False  # not serving yet
        if not entries or any(e["loadStatus"] != "LOADED" for e in entries):
            return False
        errors = [e["locationOrLoadError"]["message"] for e in entries
                  if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"]
        if errors:
            raise RuntimeError(f"the code location failed to load: {errors[0]}")
        return True

    def query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": document, "variables": dict(variables or {})}).encode()
        req = urllib.request.Request(self.url + "/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - the loopback server started here
            result = json.loads(resp.read())
        if result.get("errors"):
            raise RuntimeError(f"GraphQL: {result['errors'][0].get('message')}")
        return result["data"]

    def running_sensors(self) -> list[str]:
        return [s["name"] for s in self.query(SENSORS)["sensorsOrError"]["results"]
                if s["sensorState"]["status"] == "RUNNING"]

    def runs(self, limit: int = 200) -> list[dict[str, Any]]:
        return self.query(RUNS, {"limit": limit})["runsOrError"]["results"]

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
            status = self.query(RUN, {"id": run_id})["runOrError"].get("status")
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
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        # Children (run workers, code servers) that outlived dagster dev: kill the rest of the group.
        for _ in range(200):
            if not _signal_group(proc.pid, signal.SIGKILL):
                break
            time.sleep(0.05)


def _signal_group(pgid: int, sig: int) -> bool:
    """Send sig to the process group; False when no process of it is left."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


@contextmanager
def dagster_dev(root: Path, **kwargs: Any) -> Iterator[DagsterDev]:
    server = DagsterDev(root, **kwargs)
    try:
        server.start()
        yield server
    finally:
        server.stop()


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
