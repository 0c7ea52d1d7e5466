"""The whole pipeline on a team deployment: the team instance profile (deploy/dagster.yaml on
PostgreSQL), the call store on PostgreSQL, assets on an S3-compatible server, and every step
executed by two Celery workers (separate processes) through Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pandas as pd
import pytest
from upath import UPath

from pipelines.llm.store import open_store
from pipelines.paths import DEPLOY_DIR, PROJECT_ROOT, dagster_home
from tests.pipeline.helpers import models_yaml, pipeline_yaml, small_raw_folder
from tests.team.celery_helpers import Worker, wait_ready

MODELS = ("oracle", "partial", "generic")
PER_MODEL = ("generations", "judgements", "task_scores")


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory, pg_database, redis_url: str, s3_server: dict) -> Iterator[dict]:
    import boto3

    root = tmp_path_factory.mktemp("team")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_DIR / "dagster.yaml", home / "dagster.yaml")  # the shipped team profile, as is
    instance_db, calls_db = urlsplit(pg_database()), pg_database()
    bucket = f"xb-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_server["AWS_ENDPOINT_URL"], region_name=s3_server["AWS_DEFAULT_REGION"],
                 aws_access_key_id=s3_server["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=s3_server["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=bucket)
    small_raw_folder(root / "raw", per_domain=1)
    queue = f"xb-test-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ, **s3_server,
        "DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": instance_db.hostname, "DAGSTER_PG_PORT": str(instance_db.port),
        "DAGSTER_PG_USER": instance_db.username, "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": instance_db.path[1:],
        "XPERTBENCH_RAW_DIR": str(root / "raw"), "XPERTBENCH_ASSETS_DIR": str(root / "scratch"),
        "XPERTBENCH_CONFIG": str(pipeline_yaml(root / "xb.yaml")),
        "XPERTBENCH_MODELS": str(models_yaml(root / "models.yaml", candidates=MODELS)), "XPERTBENCH_SET": "",
        "XPERTBENCH_CALL_STORE": calls_db, "XPERTBENCH_ASSETS_URL": f"s3://{bucket}/xpertbench",
        "XPERTBENCH_EXECUTOR": "celery", "XPERTBENCH_CELERY_QUEUE": queue,
        "XPERTBENCH_CELERY_BROKER": redis_url, "XPERTBENCH_CELERY_BACKEND": redis_url,
    }
    workers = [Worker(n, queue, env, root / f"{n}.log") for n in ("w1", "w2")]
    try:
        names = wait_ready(redis_url, ["w1", "w2"], workers)
        run = subprocess.run([sys.executable, "-m", "pipelines.cli", "run"], cwd=PROJECT_ROOT, env=env,
                             capture_output=True, text=True, timeout=540)
        yield {"env": env, "run": run, "workers": names, "calls": calls_db, "assets": env["XPERTBENCH_ASSETS_URL"],
               "logs": {w.name: w for w in workers}}
    finally:
        for w in workers:
            w.stop()


@pytest.fixture(scope="module")
def instance(team: dict) -> Iterator[dg.DagsterInstance]:
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in team["env"].items() if k.startswith(("DAGSTER_", "AWS_"))})
    try:
        with dg.DagsterInstance.get() as inst:
            yield inst
    finally:
        os.environ.clear()
        os.environ.update(saved)


def steps_by_worker(instance: dg.DagsterInstance) -> list[tuple[str | None, str, str]]:
    """(partition, step key, Celery worker) for every step a worker executed, from the event log."""
    out = []
    for rec in instance.get_run_records():
        part = rec.dagster_run.tags.get("dagster/partition")
        for e in instance.all_logs(rec.dagster_run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            md = e.dagster_event.event_specific_data.metadata if e.dagster_event.event_specific_data else {}
            if "Celery worker" in md:
                out.append((part, e.step_key, str(md["Celery worker"].value)))
    return out


@pytest.mark.timeout(600)
def test_the_pipeline_runs_on_two_celery_workers(team: dict, instance: dg.DagsterInstance) -> None:
    run = team["run"]
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}\n" + "\n".join(
        f"--- {n}:\n{w.tail()}" for n, w in team["logs"].items())
    # The team instance: runs and events in PostgreSQL.
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    runs = instance.get_run_records()
    assert runs and all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    # Every step ran on a Celery worker, and the model partitions on both of them.
    executed = steps_by_worker(instance)
    per_model = {(p, s.split(".")[0]): w for p, s, w in executed if p is not None}
    assert {(m, a) for m in MODELS for a in PER_MODEL} <= set(per_model)
    assert set(per_model.values()) == team["workers"], per_model
    assert len({w for *_, w in executed}) == 2


def test_the_outputs_are_in_the_object_store_and_the_calls_in_postgres(team: dict, instance: dg.DagsterInstance) -> None:
    assert team["run"].returncode == 0
    assert f"report: {team['assets']}/report/report.html" in team["run"].stdout  # the summary read the bucket
    base = UPath(team["assets"])
    with (base / "leaderboard.parquet").open("rb") as fh:
        board = pd.read_parquet(fh).set_index("model")
    assert board.loc["oracle", "score"] > board.loc["partial", "score"] > board.loc["generic", "score"]
    for m in MODELS:
        assert (base / "generations" / f"{m}.parquet").exists()
    assert (base / "report" / "report.html").read_text().startswith("<!doctype html>")
    with (base / "generations" / "oracle.parquet").open("rb") as fh:
        gen = pd.read_parquet(fh)
    with open_store(team["calls"]) as store:
        per_model = store.stats()["per_model"]
        assert store.contains_many(gen["call_key"]) == set(gen["call_key"])  # every answer paid once, kept
    assert {"oracle", "partial", "generic", "standin-judge"} <= set(per_model)


def test_the_team_profile_queues_runs_limits_pools_and_monitors_runs(instance: dg.DagsterInstance) -> None:
    assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 4  # the `llm` pool's limit
    assert instance.run_monitoring_enabled and instance.run_monitoring_start_timeout_seconds == 300


def test_the_profile_variable_selects_the_team_instance() -> None:
    assert dagster_home({"XPERTBENCH_PROFILE": "team"}) == DEPLOY_DIR
    assert dagster_home({}) == PROJECT_ROOT / ".dagster_home"
    assert dagster_home({"DAGSTER_HOME": "/srv/dagster", "XPERTBENCH_PROFILE": "team"}) == Path("/srv/dagster")
    with pytest.raises(ValueError, match="XPERTBENCH_PROFILE"):
        dagster_home({"XPERTBENCH_PROFILE": "cluster"})
