"""`make ui` serves every asset with its group, code version and checks (dagster dev on loopback)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.paths import PROJECT_ROOT

QUERY = """{ assetNodes { assetKey { path } groupName opVersion description
             assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, query: str) -> dict:
    req = urllib.request.Request(url, data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@pytest.fixture()
def ui(tmp_path):
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "XPERTBENCH_ASSETS_DIR": str(tmp_path / "assets")}
    dagster = Path(sys.executable).parent / "dagster"
    # The wrapper restores default signal handling, so SIGINT stops dagster dev and its children.
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli.run_with_default_signals", str(dagster), "dev",
                             "-h", "127.0.0.1", "-p", str(port)], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(base + "/server_info", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("dagster dev did not start")
                time.sleep(0.5)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_ui_lists_assets_with_groups_versions_and_checks(ui):
    nodes = post(ui + "/graphql", QUERY)["data"]["assetNodes"]
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
