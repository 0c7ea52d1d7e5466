"""Preflight: before any work, one line per problem naming the file, field or variable, exit 2."""

import os
import socket
import subprocess
import sys

import pytest

from tests.pipeline.helpers import models_yaml, pipeline_yaml, small_raw_folder

KEY = "XB_PREFLIGHT_TEST_KEY"


def xb(tmp_path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    e = {k: v for k, v in os.environ.items() if k != KEY} | {"DAGSTER_HOME": str(home)} | (env or {})
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args, "--raw-dir", str(tmp_path / "raw"),
                           "--assets-dir", str(tmp_path / "assets"), "--config", str(pipeline_yaml(tmp_path / "x.yaml"))],
                          env=e, capture_output=True, text=True, timeout=300)


def no_work_done(tmp_path) -> bool:
    """Nothing written: no assets folder, no Dagster run storage."""
    return not (tmp_path / "assets").exists() and not (tmp_path / "home" / "history").exists()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once closed: connecting is refused


@pytest.mark.parametrize("command", ["run", "refresh", "estimate"])
def test_a_missing_key_is_one_line_per_provider_before_any_work(tmp_path, command):
    small_raw_folder(tmp_path / "raw", per_domain=1)
    p = xb(tmp_path, command, "--models", str(models_yaml(tmp_path / "m.yaml", api_key_env=KEY)))
    assert p.returncode == 2, p.stderr[-2000:]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 2 and all(s.startswith(f"xpertbench: environment variable {KEY}: not set") for s in lines)
    assert {"'standin-openai'", "'standin-anthropic'"} <= {w for s in lines for w in s.split()}
    assert no_work_done(tmp_path)


def test_a_refused_connection_is_reported_as_refused(tmp_path):
    small_raw_folder(tmp_path / "raw", per_domain=1)
    port = closed_port()
    models = models_yaml(tmp_path / "m.yaml", base_url=f"http://127.0.0.1:{port}")
    p = xb(tmp_path, "run", "--models", str(models))
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 2 and all(f"connection refused at 127.0.0.1:{port}" in s and str(models) in s for s in lines)
    assert "imeout" not in p.stderr and no_work_done(tmp_path)


def test_debug_shows_the_traceback_of_a_bad_config(tmp_path):
    small_raw_folder(tmp_path / "raw", per_domain=1)
    bad = tmp_path / "m.yaml"
    bad.write_text("providers: [1, 2\n")
    p = xb(tmp_path, "run", "--models", str(bad))
    assert p.returncode == 2 and "Traceback" not in p.stderr and str(bad) in p.stderr
    p = xb(tmp_path, "run", "--models", str(bad), "--debug")
    assert p.returncode == 2 and "Traceback" in p.stderr and str(bad) in p.stderr


def test_an_empty_raw_folder_is_a_problem_not_an_empty_leaderboard(tmp_path):
    (tmp_path / "raw").mkdir()
    p = xb(tmp_path, "run", "--models", str(models_yaml(tmp_path / "m.yaml")))
    assert p.returncode == 2 and "has no *.json submission files" in p.stderr and no_work_done(tmp_path)
