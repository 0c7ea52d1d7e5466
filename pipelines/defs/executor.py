"""The Dagster executor, chosen by Settings.executor: Dagster's default, or Celery for a team.

With `celery`, every step of a run is a Celery task, executed by whichever worker takes it
(`celery -A pipelines.celery_app worker -Q <queue>`, see deploy/). The broker and result-backend
URLs may hold passwords, so the definitions name only the environment variables
(XPERTBENCH_CELERY_BROKER, XPERTBENCH_CELERY_BACKEND), resolved when a run starts.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from pipelines.settings import Settings

BROKER_ENV = "XPERTBENCH_CELERY_BROKER"
BACKEND_ENV = "XPERTBENCH_CELERY_BACKEND"


def celery_config_source(queue: str) -> dict[str, Any]:
    """Celery settings shared by the run's executor and the workers (pipelines/celery_app.py)."""
    return {
        "task_default_queue": queue,
        "worker_prefetch_multiplier": 1,  # a busy worker leaves queued steps to idle ones
        "result_expires": 24 * 3600,
        "broker_connection_retry_on_startup": True,
    }


def executor_for(s: Settings) -> dg.ExecutorDefinition | None:
    """None keeps Dagster's default (multiprocess for launched runs; the CLI runs in process)."""
    if s.executor != "celery":
        return None
    from dagster_celery import celery_executor  # the team extra; only needed when asked for

    return celery_executor.configured(
        {"broker": {"env": BROKER_ENV}, "backend": {"env": BACKEND_ENV},
         "config_source": celery_config_source(s.celery_queue)},
        name="xpertbench_celery",
    )
