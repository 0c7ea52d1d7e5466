"""Two `xpertbench run` at once on one instance and assets folder: they serialise, nothing is paid twice.

Both are real CLI processes against one stand-in server process, which logs every request. The
second starts just after the first took the assets lock; it must wait (and say for whom), then
find every call in the store: zero duplicate requests, and every parquet file whole.
"""

import re

import pandas as pd

from tests.pipeline.procs import no_cli_left_running  # noqa: F401 - autouse fixture
from tests.pipeline.procs import Cli, StandinProcess, duplicates, wait_for, workspace


def test_two_runs_at_once_serialise_and_pay_no_call_twice(tmp_path):
    lock = tmp_path / "assets" / ".xpertbench.lock"
    with StandinProcess(latency_s=0.5) as server:
        env = workspace(tmp_path, server.base_url, candidates=("oracle", "partial"))
        first = Cli(env, "run", log=tmp_path / "first")
        # Start the second as soon as the first holds the lock: without it, both would reach the
        # same model partitions at about the same time and pay for the same calls.
        wait_for(lambda: lock.exists() and "pid" in lock.read_text(), "the first run holding the lock", proc=first)
        holder = re.search(r"pid (\d+)", lock.read_text()).group(1)
        second = Cli(env, "run", log=tmp_path / "second")
        assert first.wait() == 0, first.output()[-3000:]
        n_first = len(server.requests())
        assert second.wait() == 0, second.output()[-3000:]
        requests = server.requests()
    assert f"another run (pid {holder}) is using {tmp_path / 'assets'}; waiting" in second.output()
    assert duplicates(requests) == 0
    assert len(requests) == n_first  # the second run found every call in the store
    assets = tmp_path / "assets"
    files = sorted(assets.rglob("*.parquet"))
    assert len(files) > 20 and all(len(pd.read_parquet(f).columns) for f in files)
    assert not [p for p in assets.rglob("*") if p.is_file() and ".tmp" in p.name]  # no temp file left

