"""Throughput of the LLM call layer against the stand-in server (fixed 200 ms latency).

    .venv/bin/python bench/llm_throughput.py [--levels 1 8 32 64] [--repeats 3] [--latency-s 0.2]
                                             [--calls-per-slot 32] [--transport aiohttp|httpx2]
                                             [--in-process]

For each concurrency level and repeat: a fresh empty store and a fresh runner, provider
max_concurrency = level, N = max(40, calls_per_slot x level) distinct calls through LLMRunner and
the real openai SDK. Reports achieved calls/s against the ideal (concurrency / latency) and
p50/p95 per-call latency (the successful HTTP attempt, as LLMResult.latency_s); medians over the
repeats. Target: >= 90% of ideal at concurrency 32.

``--calls-per-slot 8`` (8 rounds per slot) mostly measures the ramp-up of a cold runner: the first
wave of requests leaves together and comes back together, and on a small machine the client's
per-call CPU (mostly inside the SDK) serialises that wave. The default, 32 rounds, measures the
sustained rate that matters for a long batch. Both figures are in the PR report.

By default the stand-in server runs in its own process, like a real (remote) provider: in the
same process its handler threads would compete with the client for the GIL and the numbers would
measure that contention rather than the call layer. ``--in-process`` measures that setup too.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.llm import LLMRequest, LLMRunner, ModelsConfig  # noqa: E402


@contextmanager
def external_server(latency_s: float) -> Iterator[str]:
    """The stand-in server in its own process (default signal handling restored, own process group), so
    that it and anything it started stop even when the bench is interrupted."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli.run_with_default_signals", sys.executable, "-m", "pipelines.llm",
         "standin", "--latency-s", str(latency_s)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise SystemExit(f"stand-in server did not start (got {url!r})")
        yield url
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=10)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue


def bench_config(concurrency: int, base_url: str | None, transport: str = "httpx2") -> ModelsConfig:
    return ModelsConfig.model_validate(
        {
            "version": "bench",
            "providers": {
                "standin": {"kind": "standin", "protocol": "openai", "max_concurrency": concurrency,
                            "base_url": base_url + "/v1" if base_url else None,
                            "timeout_s": 30, "deadline_s": 60, "max_retries": 0, "http_transport": transport}
            },
            "models": {"generic": {"provider": "standin", "model_id": "standin-generic", "max_tokens": 512}},
            "candidates": ["generic"],
            "judge": "generic",
        }
    )


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def one_run(
    concurrency: int, latency_s: float, run_id: int, base_url: str | None, per_slot: int, transport: str
) -> dict[str, float]:
    n = max(40, per_slot * concurrency)
    requests = [
        LLMRequest(
            model="generic",
            messages=[{"role": "user", "content": f"Benchmark {run_id}-{i}: assess the liquidity risk of a bond portfolio."}],
            template_hash="bench",
        )
        for i in range(n)
    ]
    with tempfile.TemporaryDirectory() as d:
        with LLMRunner(bench_config(concurrency, base_url, transport), Path(d) / "calls.sqlite", progress=False,
                       standin_latency_s=latency_s) as runner:
            t0 = time.perf_counter()
            results = runner.run(requests)
            wall = time.perf_counter() - t0
    errors = [r for r in results if not r.ok]
    if errors:
        raise SystemExit(f"{len(errors)} calls failed at concurrency {concurrency}: {errors[0].error_message}")
    lat = [r.latency_s for r in results]
    return {"n": n, "calls_per_s": n / wall, "p50": pct(lat, 0.5), "p95": pct(lat, 0.95)}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32, 64])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--latency-s", type=float, default=0.2)
    ap.add_argument("--calls-per-slot", type=int, default=32, help="N = max(40, this x concurrency)")
    ap.add_argument("--transport", choices=["aiohttp", "httpx2"], default="aiohttp")
    ap.add_argument("--in-process", action="store_true", help="stand-in server in this process")
    args = ap.parse_args()

    where = "this process" if args.in_process else "a separate process"
    table = Table(title=f"LLM call layer vs stand-in: {args.latency_s * 1000:.0f} ms latency, server in {where}, "
                        f"{args.transport}, N = max(40, {args.calls_per_slot} x concurrency), median of {args.repeats}")
    for col in ("concurrency", "calls", "calls/s", "ideal/s", "ratio", "p50 ms", "p95 ms"):
        table.add_column(col, justify="right")
    for level in args.levels:
        runs = []
        for i in range(args.repeats):
            if args.in_process:
                runs.append(one_run(level, args.latency_s, i, None, args.calls_per_slot, args.transport))
            else:
                with external_server(args.latency_s) as url:
                    runs.append(one_run(level, args.latency_s, i, url, args.calls_per_slot, args.transport))
        cps = statistics.median(r["calls_per_s"] for r in runs)
        ideal = level / args.latency_s
        table.add_row(
            str(level), str(int(runs[0]["n"])), f"{cps:.1f}", f"{ideal:.1f}", f"{cps / ideal:.0%}",
            f"{statistics.median(r['p50'] for r in runs) * 1000:.0f}",
            f"{statistics.median(r['p95'] for r in runs) * 1000:.0f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
