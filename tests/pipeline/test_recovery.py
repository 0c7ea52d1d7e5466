"""A run whose process was killed (-9) is closed at the next start and its pool slots are freed.

The instance limits the `llm` pool to 2 slots, as .dagster_home/dagster.yaml does: each killed
run holds one slot, so without recovery the third run waits for a slot forever. The stand-in
server (its own process) answers some calls and holds the next ones unanswered, so each kill
lands at a known point: every answered call already in the call store, two calls on the wire.
"""

import signal

import dagster as dg

from tests.pipeline.procs import no_cli_left_running  # noqa: F401 - autouse fixture
from tests.pipeline.procs import Cli, StandinProcess, identity, instance_at, stored_calls, wait_for, workspace

HANG = {"hang_s": 600}  # held until the server stops: never answered


def test_two_kills_during_generation_then_a_run_completes_paying_nothing_twice(tmp_path):
    with StandinProcess() as server:
        env = workspace(tmp_path, server.base_url, pools=2, candidates=("oracle", "partial"))
        assets = tmp_path / "assets"
        answered: set[str] = set()
        dead: list[str] = []
        for attempt in (1, 2):
            seen = len(server.requests())
            server.script([{}, {}, HANG, HANG])  # 2 answered, then 2 on the wire: both slots busy
            cli = Cli(env, "run", log=tmp_path / f"killed{attempt}")
            wait_for(lambda: len(server.requests()) == seen + 4 and stored_calls(assets) == 2 * attempt,
                     "2 calls answered and stored, 2 on the wire", proc=cli)
            cli.proc.send_signal(signal.SIGKILL)
            cli.wait()
            log = server.requests()
            answered |= {identity(e) for e in log[seen:seen + 2]}
            with instance_at(tmp_path / "home") as inst:
                started = [r.run_id for r in inst.get_runs() if r.status == dg.DagsterRunStatus.STARTED]
                held = inst.event_log_storage.get_concurrency_info("llm").active_run_ids
            # The kill left its generation run STARTED, holding an llm slot (an earlier one was
            # closed by the start of this one).
            assert len(started) == 1 and held == set(started)
            dead += started

        final = Cli(env, "run", log=tmp_path / "final")
        assert final.wait(timeout=300) == 0, final.output()[-3000:]
        # Each dead run was found and closed by the next start, which said so.
        later_out = [(tmp_path / "killed2.err").read_text(), final.output()]
        assert all(f"run {run_id}" in out and "marked failed" in out for run_id, out in zip(dead, later_out))
        later = [identity(e) for e in server.requests()[8:]]
        assert not answered & set(later), "a call answered before a kill was paid again"
        assert (assets / "leaderboard.parquet").exists()
        with instance_at(tmp_path / "home") as inst:
            for run_id in dead:
                run = inst.get_run_by_id(run_id)
                assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
            info = inst.event_log_storage.get_concurrency_info("llm")
            assert info.claimed_slots == [] and info.pending_steps == []


def test_a_process_is_dead_when_gone_a_zombie_or_its_pid_reused():
    import os
    import subprocess
    import sys

    from pipelines.cli.recovery import TAG_STARTED, process_alive, process_tags

    me = process_tags()
    assert process_alive(os.getpid(), me[TAG_STARTED])
    assert not process_alive(os.getpid(), str(int(me[TAG_STARTED]) + 1))  # same pid, another process
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        assert process_alive(child.pid, "")
        child.kill()
        wait_for(lambda: not process_alive(child.pid, ""), "the killed child counted dead before it is reaped")
    finally:
        child.kill()
        child.wait(timeout=30)
    assert not process_alive(child.pid, "")
