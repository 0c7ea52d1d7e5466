"""The Celery app the team's workers run: `celery -A pipelines.celery_app worker -Q <queue> --concurrency N`.

The same app as `dagster_celery.app` (tasks that execute one Dagster step each), configured from
the environment instead of a generated module: XPERTBENCH_CELERY_BROKER, XPERTBENCH_CELERY_BACKEND
(default: the broker) and XPERTBENCH_CELERY_QUEUE, as the run's executor (pipelines/defs/executor.py).
A worker loads the code location (`pipelines.definitions`) from its own environment, so it needs
the same XPERTBENCH_* settings as the webserver, daemon and code server, and the same DAGSTER_PG_*
instance variables: deploy/docker-compose.yaml gives them all one env file.
"""

from __future__ import annotations

import os

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

from pipelines.defs.executor import BACKEND_ENV, BROKER_ENV, celery_config_source


def _app_args() -> dict:
    broker = os.environ.get(BROKER_ENV, "").strip()
    if not broker:
        raise SystemExit(f"{BROKER_ENV} is not set (e.g. redis://127.0.0.1:6379/0)")
    queue = os.environ.get("XPERTBENCH_CELERY_QUEUE", "").strip() or "xpertbench"
    backend = os.environ.get(BACKEND_ENV, "").strip() or broker
    return {"broker": broker, "backend": backend, "include": [], "config_source": celery_config_source(queue)}


app = make_app(_app_args())
execute_plan = create_task(app)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
