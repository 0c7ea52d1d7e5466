"""Time from Ctrl-C / SIGTERM to exit for `xpertbench run` and `refresh`, and LLM calls sent after it.

Each repeat starts the real command in its own process on a fresh 7-task folder, against the
stand-in server in another process (every request logged there), waits until LLM calls are flowing
(two waves of `--concurrency` calls, each held `--latency-s` by the server), sends the signal and
measures until the process has exited. Also reports the exit code and the Dagster status of the
last run (CANCELED expected).

    .venv/bin/python bench/interrupt.py [--repeats 5] [--latency-s 1.5] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.pipeline.procs import Cli, StandinProcess, instance_at, wait_for, workspace  # noqa: E402

CASES = [("run", signal.SIGINT), ("refresh", signal.SIGTERM)]


def one(command: str, sig: int, latency_s: float, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="xb-interrupt-") as tmp, StandinProcess(latency_s=latency_s) as server:
        root = Path(tmp)
        env = workspace(root, server.base_url, max_concurrency=concurrency)
        cli = Cli(env, command, log=root / command)
        try:
            wait_for(lambda: len(server.requests()) >= 2 * concurrency, "two waves of calls", proc=cli)
            before = len(server.requests())
            t0 = time.monotonic()
            cli.proc.send_signal(sig)
            rc = cli.wait(timeout=120)
            elapsed = time.monotonic() - t0
        finally:
            cli.kill()
        after = len(server.requests())
        with instance_at(root / "home") as inst:
            last = inst.get_runs(limit=1)[0].status.value
    return {"seconds": elapsed, "after": after - before, "rc": rc, "status": last}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--latency-s", type=float, default=1.5)
    ap.add_argument("--concurrency", type=int, default=2)
    args = ap.parse_args()
    for command, sig in CASES:
        rows = [one(command, sig, args.latency_s, args.concurrency) for _ in range(args.repeats)]
        secs = [r["seconds"] for r in rows]
        print(f"{command} + {signal.Signals(sig).name}: signal to exit median {statistics.median(secs):.2f} s, "
              f"max {max(secs):.2f} s over {len(rows)}; LLM calls after the signal: "
              f"{sum(r['after'] for r in rows)}; exit codes {sorted({r['rc'] for r in rows})}; "
              f"last run status {sorted({r['status'] for r in rows})}")


if __name__ == "__main__":
    main()
