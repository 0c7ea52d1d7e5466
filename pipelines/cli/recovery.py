"""Runs whose process died (kill -9, OOM, power loss) are found at the next start and closed.

Every run the CLI starts carries tags naming its process: host, pid, and the process start time
(so a recycled pid is not mistaken for the original). Dagster's own run monitoring cannot see
these runs: they execute in the CLI process, not through a run launcher. So at the start of
`run` and `refresh` (under the assets lock) we look for unfinished runs of this host whose
process is gone, mark them failed (or canceled, when they were already canceling), and free the
concurrency-pool slots they held, which would otherwise block every later `llm` step forever.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from functools import cache
from pathlib import Path

import dagster as dg

TAG_HOST = "xpertbench/host"
TAG_PID = "xpertbench/pid"
TAG_STARTED = "xpertbench/process_start"  # clock ticks since boot (/proc); "" where unknown

_UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
               dg.DagsterRunStatus.CANCELING]


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) from /proc/PID/stat, or None where there is no /proc entry."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields resume after the last ")".
    rest = data[data.rindex(b")") + 2:].split()
    return rest[0].decode(), rest[19].decode()


@cache
def process_tags() -> dict[str, str]:
    stat = _proc_stat(os.getpid())
    return {TAG_HOST: socket.gethostname(), TAG_PID: str(os.getpid()), TAG_STARTED: stat[1] if stat else ""}


def process_alive(pid: int, started: str) -> bool:
    """Whether the process that recorded (pid, started) still runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    stat = _proc_stat(pid)
    if stat is None:
        return not Path("/proc/self").exists()  # no /proc at all (macOS): trust kill(0)
    state, start = stat
    if state == "Z":
        return False  # exited, not yet reaped by its parent
    return not started or start == started


def recover(instance: dg.DagsterInstance, echo: Callable[[str], None]) -> list[str]:
    """Close the unfinished runs of dead CLI processes on this host; returns their run ids."""
    host = socket.gethostname()
    closed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=_UNFINISHED, tags={TAG_HOST: host})):
        try:
            pid = int(run.tags.get(TAG_PID, ""))
        except ValueError:
            continue
        if process_alive(pid, run.tags.get(TAG_STARTED, "")):
            continue
        why = f"process {pid} on {host} ended without finishing this run (killed or crashed)"
        if run.status == dg.DagsterRunStatus.CANCELING:
            instance.report_run_canceled(run, message=f"{why}; it was canceling: marked canceled by xpertbench")
            verdict = "canceled"
        else:
            instance.report_run_failed(run, message=f"{why}; marked failed by xpertbench at the next start")
            verdict = "failed"
        closed.append(run.run_id)
        echo(f"[xpertbench] run {run.run_id} ({run.status.value}, pid {pid}) has no live process: marked {verdict}")
    freed = free_pool_slots(instance)
    if freed:
        echo(f"[xpertbench] freed the concurrency-pool slots of {freed} finished run(s)")
    for run in _slot_holders_we_cannot_check(instance, host):
        echo(f"[xpertbench] note: run {run.run_id} ({run.status.value}) holds concurrency-pool slots and was not "
             "started by xpertbench on this host; if it is not running any more, terminate it in the Dagster UI, "
             "or LLM steps will wait for its slots")
    return closed


def _slot_holders_we_cannot_check(instance: dg.DagsterInstance, host: str) -> list[dg.DagsterRun]:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    run_ids = sorted(storage.get_concurrency_run_ids())
    if not run_ids:
        return []
    return [r for r in instance.get_runs(filters=dg.RunsFilter(run_ids=run_ids, statuses=_UNFINISHED))
            if r.tags.get(TAG_HOST) != host or TAG_PID not in r.tags]


def free_pool_slots(instance: dg.DagsterInstance) -> int:
    """Free pool slots (and queued step claims) still held by runs that are finished."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return 0
    run_ids = set(storage.get_concurrency_run_ids())
    if not run_ids:
        return 0
    finished = [r.run_id for r in instance.get_runs(filters=dg.RunsFilter(run_ids=sorted(run_ids)))
                if r.status not in _UNFINISHED]
    for run_id in finished:
        storage.free_concurrency_slots_for_run(run_id)
    return len(finished)
