"""Ctrl-C and SIGTERM for `run` and `refresh`: the first cancels cleanly, the second exits at once.

Why a worker process: while a Dagster run executes in-process, Dagster installs its own
SIGINT/SIGTERM handlers, and a signal that reaches them before the run is marked CANCELING fails
the run ("interrupted unexpectedly") instead of canceling it. Blocking the signals instead is no
way out: child processes (Dagster's compute-log tail) inherit the mask and can no longer be
terminated. So the command runs as Dagster's own launchers run a run: a thin supervisor (this
process, which never imports Dagster) and a worker in its own process group, which terminal
signals do not reach. The supervisor turns the first SIGINT/SIGTERM into SIGUSR1 for the worker,
whose handler, on the worker's main thread:

1. stops the LLM layer admitting calls (pipelines.llm.cancel), so nothing new is sent;
2. marks this process's unfinished Dagster runs CANCELING in the instance;
3. cancels the running LLM batches (finished calls are already in the call store) and hands the
   interrupt to whatever SIGINT handler is in place: inside a run, Dagster's, which then ends
   the run as CANCELED; outside one, Python's KeyboardInterrupt.

`orchestrate.materialize` then starts no further run. On a second signal the supervisor kills
the worker and exits (128 + signal); the next start closes the run it left (recovery.py). The
worker also dies with the supervisor (PR_SET_PDEATHSIG), so `kill -9` of the command stops the
work too. Signals the command inherited as ignored stay ignored.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Any

WORKER_ENV = "XPERTBENCH_SUPERVISOR_PID"  # set in the worker: the supervisor's pid
CANCEL = signal.SIGUSR1
WATCHED = (signal.SIGINT, signal.SIGTERM)
INTERRUPTED = 130  # the worker's exit code after a clean cancel


def _say(msg: str) -> None:
    try:
        os.write(2, (msg + "\n").encode())  # never waits on a lock the interrupted code holds
    except OSError:
        pass


# -- supervisor ---------------------------------------------------------------------------------

def supervise(argv: list[str]) -> int:
    """Run `xpertbench ARGV` in a worker process and forward signals as described above."""
    got: list[int] = []
    proc: subprocess.Popen | None = None

    def forward(signum: int, _frame: Any) -> None:
        got.append(signum)
        name = signal.Signals(signum).name
        if len(got) == 1:
            _say(f"[xpertbench] {name}: stopping; no new LLM call is sent and no later run starts "
                 "(press Ctrl-C again to exit at once)")
            if proc is not None:
                proc.send_signal(CANCEL)
        else:
            _say(f"[xpertbench] second {name}: exiting now; the next `xpertbench run` or `refresh` "
                 "closes the run left behind")
            if proc is not None:
                proc.kill()
            os._exit(128 + got[0])

    for s in WATCHED:
        if signal.getsignal(s) != signal.SIG_IGN:
            signal.signal(s, forward)
    env = {**os.environ, WORKER_ENV: str(os.getpid())}
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", *argv], env=env, process_group=0)
    if got:  # a signal came before the worker existed
        proc.send_signal(CANCEL)
    rc = proc.wait()
    if got and (rc == INTERRUPTED or rc < 0):
        return 128 + got[0]
    return rc if rc >= 0 else 128 - rc


# -- worker -------------------------------------------------------------------------------------

_instance: Any = None
_canceling = False


def is_worker() -> bool:
    return WORKER_ENV in os.environ


def attach(instance: Any) -> None:
    """Tell the cancel handler which Dagster instance holds this process's runs."""
    global _instance
    _instance = instance


def install_worker() -> None:
    """In the worker: die with the supervisor, and cancel cleanly on its CANCEL signal."""
    parent = int(os.environ.pop(WORKER_ENV))
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the supervisor died before we could ask
        os._exit(128 + signal.SIGKILL)
    signal.signal(CANCEL, _on_cancel)


def exit_worker(code: int) -> None:
    """End the worker without the interpreter's teardown of pandas/Dagster/GX modules, which
    takes seconds on a busy machine; exit handlers still run and output is flushed."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _on_cancel(_signum: int, frame: Any) -> None:
    global _canceling
    if _canceling:
        return
    _canceling = True
    from pipelines.llm import cancel

    cancel.stop_admitting()
    # The instance write runs on a helper thread: this handler may have interrupted code that
    # holds a lock the write needs. Bounded, so a stuck write cannot stop the cancel.
    writer = threading.Thread(target=_mark_canceling, name="xpertbench-cancel", daemon=True)
    writer.start()
    writer.join(timeout=5)
    cancel.cancel_batches()
    handler = signal.getsignal(signal.SIGINT)
    if not callable(handler):
        raise KeyboardInterrupt
    # Inside a run, Dagster's handler: it raises in our code, or flags framework code to raise at
    # the next step. Outside a run, Python's: KeyboardInterrupt.
    handler(signal.SIGINT, frame)


def _mark_canceling() -> None:
    if _instance is None:
        return
    try:
        import dagster as dg

        from pipelines.cli.recovery import TAG_PID, process_tags

        unfinished = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
        for run in _instance.get_runs(filters=dg.RunsFilter(statuses=unfinished,
                                                            tags={TAG_PID: process_tags()[TAG_PID]})):
            _instance.report_run_canceling(run, message=f"canceled by xpertbench (pid {os.getpid()}): "
                                           "Ctrl-C or SIGTERM")
    except Exception as exc:  # noqa: BLE001 - stopping matters more than the record
        _say(f"[xpertbench] could not mark the run canceling: {type(exc).__name__}: {exc}")
