"""Ctrl-C / SIGTERM stop `run` and `refresh`: the run is CANCELED, no later run starts, no call leaves.

The CLI runs in its own process (default signal dispositions) against a stand-in server in another
process that logs every request, so "no LLM call after the signal" is counted, not assumed. The
server holds each reply for a while and the provider allows 2 calls at once, so calls arrive in
waves; the signal is sent just after a wave arrived, when the next call can only be sent once one
of those replies is back (several hundred ms later): any request logged after that is one the CLI
sent after the signal.
"""

import signal

import dagster as dg
import pytest

from pipelines.cli.recovery import TAG_PID, TAG_STARTED, process_alive
from tests.pipeline.procs import no_cli_left_running  # noqa: F401 - autouse fixture
from tests.pipeline.procs import Cli, StandinProcess, duplicates, instance_at, wait_for, workspace

LATENCY_S = 1.5


@pytest.fixture()
def server():
    with StandinProcess(latency_s=LATENCY_S) as s:
        yield s


def signal_mid_generation(cli: Cli, server: StandinProcess, sig: int) -> int:
    """Wait for the second wave of calls, send sig right away; returns the requests seen by then."""
    wait_for(lambda: len(server.requests()) >= 4, "two waves of LLM calls", proc=cli)
    before = len(server.requests())
    cli.proc.send_signal(sig)
    return before


def statuses(home) -> list[tuple[str | None, dg.DagsterRunStatus]]:
    """(partition, status) of every run in the instance, oldest first."""
    with instance_at(home) as inst:
        return [(r.tags.get("dagster/partition"), r.status) for r in reversed(inst.get_runs())]


@pytest.mark.parametrize("command,sig", [("run", signal.SIGINT), ("refresh", signal.SIGTERM)])
def test_a_signal_cancels_the_run_and_nothing_is_sent_after_it(tmp_path, server, command, sig):
    env = workspace(tmp_path, server.base_url, candidates=("oracle", "partial"))
    cli = Cli(env, command, log=tmp_path / command)
    before = signal_mid_generation(cli, server, sig)
    rc = cli.wait(timeout=300)
    assert len(server.requests()) == before, f"{len(server.requests()) - before} LLM calls sent after the signal"
    assert rc == 128 + sig, cli.output()[-3000:]
    runs = statuses(tmp_path / "home")
    # The run in progress is CANCELED and is the last one: no later run (no later model) started.
    assert runs[-1][1] == dg.DagsterRunStatus.CANCELED, runs
    assert all(st == dg.DagsterRunStatus.SUCCESS for _, st in runs[:-1]), runs
    out = cli.output()
    assert "interrupted" in out and "Traceback" not in out
    if command == "run":  # finished calls were kept: a rerun re-sends only the 2 in flight at the signal
        done = Cli(env, "run", log=tmp_path / "rerun")
        assert done.wait() == 0, done.output()[-3000:]
        assert duplicates(server.requests()) <= 2


def test_a_second_ctrl_c_exits_at_once_and_the_next_start_closes_the_run(tmp_path, server):
    env = workspace(tmp_path, server.base_url, candidates=("oracle", "partial"))
    cli = Cli(env, "run", log=tmp_path / "run")
    signal_mid_generation(cli, server, signal.SIGINT)
    wait_for(lambda: "stopping" in cli.output(), "first signal acknowledged", proc=cli)
    cli.proc.send_signal(signal.SIGINT)
    assert cli.wait(timeout=120) == 130
    assert "exiting now" in cli.output()
    with instance_at(tmp_path / "home") as inst:
        left = [r for r in inst.get_runs() if r.tags.get("dagster/partition") == "oracle"]
    assert len(left) == 1 and left[0].status in (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)
    worker = int(left[0].tags[TAG_PID])
    assert worker != cli.pid
    wait_for(lambda: not process_alive(worker, left[0].tags[TAG_STARTED]), "the worker process is gone")
    nxt = Cli(env, "run", log=tmp_path / "next")
    assert nxt.wait() == 0, nxt.output()[-3000:]
    assert f"run {left[0].run_id}" in nxt.output() and "has no live process" in nxt.output()
    oracle = [st for pk, st in statuses(tmp_path / "home") if pk == "oracle"]
    # Left CANCELING (the cancel was recorded before the kill): canceled; left STARTED: failed.
    expected = {dg.DagsterRunStatus.CANCELING: dg.DagsterRunStatus.CANCELED,
                dg.DagsterRunStatus.STARTED: dg.DagsterRunStatus.FAILURE}[left[0].status]
    assert oracle == [expected, dg.DagsterRunStatus.SUCCESS]
