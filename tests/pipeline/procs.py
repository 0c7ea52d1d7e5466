"""Real processes for operator tests: an external stand-in server and `xpertbench` commands.

Both start through `pipelines.cli.run_with_default_signals`, because processes started in the
background here inherit SIGINT/SIGTERM as ignored (STANDARDS; dagster-notes.md section 10), and
they are stopped by pid with SIGKILL if still alive at the end.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pipeline.helpers import models_yaml

DEFAULT_SIGNALS = [sys.executable, "-m", "pipelines.cli.run_with_default_signals", sys.executable]


class StandinProcess:
    """`python -m pipelines.llm standin` in its own process; counts every request it receives."""

    def __init__(self, latency_s: float = 0.0) -> None:
        self.proc = subprocess.Popen([*DEFAULT_SIGNALS, "-m", "pipelines.llm", "standin", "--port", "0",
                                      "--latency-s", str(latency_s)], stdout=subprocess.PIPE, text=True)
        self.base_url = (self.proc.stdout.readline() if self.proc.stdout else "").strip()
        assert self.base_url.startswith("http://127.0.0.1:"), self.base_url

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read())

    def requests(self) -> list[dict]:
        """Model requests received so far (admin routes excluded), in arrival order."""
        return [e for e in self._call("GET", "/_log")["requests"] if "model" in e]

    def script(self, faults: list[dict]) -> None:
        self._call("POST", "/_script", {"faults": faults})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)

    def __enter__(self) -> StandinProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def identity(entry: dict) -> str:
    """What a paid call is: the model and everything sent (prompt as its hash), not the retry count."""
    return json.dumps([entry["model"], entry["params"]], sort_keys=True)


def duplicates(entries: list[dict]) -> int:
    """Requests that repeat one already received (a call paid twice)."""
    return sum(n - 1 for n in Counter(identity(e) for e in entries).values())


def workspace(root: Path, base_url: str, *, max_concurrency: int = 2, timeout_s: float = 120,
              pools: int | None = None, **models) -> dict[str, str]:
    """Environment for CLI runs on one raw folder, assets folder and Dagster instance under root."""
    import yaml

    from tests.pipeline.helpers import pipeline_yaml, small_raw_folder

    if not (root / "raw").exists():
        small_raw_folder(root / "raw", per_domain=1)
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    conf = "telemetry:\n  enabled: false\n"
    if pools:
        conf += f"concurrency:\n  pools:\n    default_limit: {pools}\n"
    (home / "dagster.yaml").write_text(conf)
    path = models_yaml(root / "models.yaml", base_url=base_url, **models)
    doc = yaml.safe_load(path.read_text())
    for p in doc["providers"].values():  # slow enough to catch mid-flight, never timing out in a test
        p.update(max_concurrency=max_concurrency, timeout_s=timeout_s, deadline_s=4 * timeout_s)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return {**os.environ, "XPERTBENCH_RAW_DIR": str(root / "raw"), "XPERTBENCH_ASSETS_DIR": str(root / "assets"),
            "XPERTBENCH_MODELS": str(path), "XPERTBENCH_CONFIG": str(pipeline_yaml(root / "xb.yaml")),
            "DAGSTER_HOME": str(home), "PYTHONUNBUFFERED": "1"}


_started: list[Cli] = []


@pytest.fixture(autouse=True)
def no_cli_left_running():
    """Import into a test module: every command it started is killed by the end of each test."""
    yield
    while _started:
        _started.pop().kill()


class Cli:
    """One `xpertbench` command in its own process, output in files (no pipe can fill up)."""

    def __init__(self, env: dict[str, str], *args: str, log: Path) -> None:
        self.out, self.err = log.with_suffix(".out"), log.with_suffix(".err")
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen([*DEFAULT_SIGNALS, "-m", "pipelines.cli", *args], env=env,
                                         stdout=out, stderr=err, text=True)
        _started.append(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float = 600) -> int:
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 300, proc: Cli | None = None) -> None:
    """Poll until cond() holds (a liveness bound, not a timing assertion)."""
    end = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.proc.poll() is not None:
            raise AssertionError(f"process ended (rc {proc.proc.returncode}) before: {what}\n{proc.output()[-3000:]}")
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.05)


def stored_calls(assets: Path) -> int:
    """Rows in the call store (read-only; 0 before it exists)."""
    path = assets / "llm_calls.sqlite"
    if not path.exists():
        return 0
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("select count(*) from calls").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # table not created yet
    finally:
        con.close()


def instance_at(home: Path):
    import dagster as dg

    return dg.DagsterInstance.local_temp(str(home))
