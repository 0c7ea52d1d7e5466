"""Start and stop Celery workers as separate processes for the team tests.

Each worker runs `celery -A pipelines.celery_app worker` through run_with_default_signals (background
processes here inherit SIGTERM as ignored), in its own process group, so stop() can end it and
its pool children reliably: a warm shutdown first, then SIGKILL of the group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipelines.paths import PROJECT_ROOT


class Worker:
    def __init__(self, name: str, queue: str, env: dict[str, str], log: Path, concurrency: int = 1) -> None:
        self.name, self.log = name, log
        celery = str(Path(sys.executable).with_name("celery"))
        self._fh = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli.run_with_default_signals", celery, "-A", "pipelines.celery_app",
             "worker", "-Q", queue, "-n", f"{name}@%h", f"--concurrency={concurrency}", "--prefetch-multiplier=1",
             "--without-gossip", "--without-mingle", "-l", "INFO"],
            cwd=PROJECT_ROOT, env=env, stdout=self._fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        try:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGTERM)  # warm shutdown: finish the current task
                try:
                    self.proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    pass
            # Whatever is left of the group (pool children) goes too.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        finally:
            self._fh.close()

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def wait_ready(broker: str, names: list[str], workers: list[Worker], timeout_s: float = 180.0) -> set[str]:
    """Ping until every named worker answers (names as celery reports them: name@host)."""
    from celery import Celery

    app = Celery(broker=broker)
    deadline = time.monotonic() + timeout_s
    seen: set[str] = set()
    try:
        while time.monotonic() < deadline:
            for w in workers:
                if w.proc.poll() is not None:
                    raise RuntimeError(f"worker {w.name} exited with {w.proc.returncode}:\n{w.tail()}")
            for reply in app.control.ping(timeout=1.0) or []:
                seen.update(n for n in reply if n.split("@")[0] in names)
            if {n.split("@")[0] for n in seen} >= set(names):
                return seen
        raise TimeoutError(f"workers {names} not ready after {timeout_s:.0f} s; seen {sorted(seen)}")
    finally:
        app.close()
