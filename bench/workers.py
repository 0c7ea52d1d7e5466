"""Worker processes sharing the PostgreSQL call store, against the 200 ms stand-in.

    .venv/bin/python bench/workers.py [--levels 1 2 4] [--concurrency 8] [--calls-per-worker 96]
                                      [--latency-s 0.2] [--repeats 3] [--pg postgresql://postgres@127.0.0.1:5432]

What a team deployment does when several workers (Celery workers, pods) run LLM steps at once.
For each number of worker processes N and each repeat, on a throwaway database (created here,
dropped at the end) and one stand-in server in its own process (`python -m pipelines.llm standin
--latency-s 0.2`, as a remote provider would be):

* distinct: each worker gets its own calls (calls-per-worker of them, provider max_concurrency
  = concurrency), as when Dagster hands different partitions to different workers. Ideal rate:
  N x concurrency / latency. Reported: calls/s and the ratio to ideal.
* same: every worker is handed the same N x calls-per-worker calls at the same moment (two runs
  of the same partitions). The claims make each call paid once: duplicates are requests the
  server received beyond the distinct calls (target 0). The ideal, with the work shared, is again
  N x concurrency / latency.

All workers start together (a barrier, after their imports). Medians over the repeats.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.llm_throughput import external_server  # noqa: E402  (the stand-in in its own process group)


@contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    import psycopg2

    user = admin_url.split("//", 1)[1].split("@")[0]
    host_port = admin_url.rsplit("@", 1)[1].rstrip("/")
    host, _, port = host_port.partition(":")
    name = f"xb_bench_{uuid.uuid4().hex[:10]}"

    def admin(sql: str) -> None:
        conn = psycopg2.connect(host=host, port=int(port or 5432), user=user, dbname="postgres")
        conn.autocommit = True
        try:
            conn.cursor().execute(sql)
        finally:
            conn.close()

    admin(f"CREATE DATABASE {name}")
    try:
        yield f"{admin_url.rstrip('/')}/{name}"
    finally:
        admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def requests_seen(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url}/_log", timeout=30) as r:  # noqa: S310 - loopback stand-in
        return len(json.load(r)["requests"])


def worker(store_url: str, base_url: str, concurrency: int, prompts: list[str], barrier: Any) -> dict[str, float]:
    """One worker process: a runner on the shared store; waits for the others, then runs its batch."""
    from pipelines.llm import LLMRequest, LLMRunner, ModelsConfig

    cfg = ModelsConfig.model_validate({
        "version": "bench",
        "providers": {"standin": {"kind": "standin", "protocol": "openai", "base_url": base_url + "/v1",
                                  "max_concurrency": concurrency, "timeout_s": 30, "deadline_s": 120,
                                  "max_retries": 0, "http_transport": "httpx2"}},
        "models": {"generic": {"provider": "standin", "model_id": "standin-generic", "max_tokens": 512}},
        "candidates": ["generic"], "judge": "generic",
    })
    reqs = [LLMRequest(model="generic", messages=[{"role": "user", "content": p}], template_hash="bench")
            for p in prompts]
    with LLMRunner(cfg, store_url, progress=False, seed=0) as runner:
        barrier.wait(timeout=300)
        t0 = time.monotonic()
        res = runner.run(reqs)
        t1 = time.monotonic()
    return {"t0": t0, "t1": t1, "sent": sum(r.ok and not r.from_store for r in res),
            "from_store": sum(r.from_store for r in res), "errors": sum(not r.ok for r in res)}


def one_round(pool: Any, manager: Any, store_url: str, base_url: str, n: int, concurrency: int,
              per_worker: int, same: bool) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]  # new calls every round: nothing is in the store yet
    shared = [f"{tag} question {i}: what drives bond prices?" for i in range(n * per_worker)]
    batches = [shared if same else shared[w * per_worker:(w + 1) * per_worker] for w in range(n)]
    before = requests_seen(base_url)
    barrier = manager.Barrier(n)
    outs = [pool.apply_async(worker, (store_url, base_url, concurrency, b, barrier)) for b in batches]
    res = [o.get(timeout=600) for o in outs]
    wall = max(r["t1"] for r in res) - min(r["t0"] for r in res)
    received = requests_seen(base_url) - before
    return {"calls": len(shared), "wall_s": wall, "rate": len(shared) / wall, "received": received,
            "duplicates": received - len(shared), "errors": sum(r["errors"] for r in res),
            "sent": sum(r["sent"] for r in res)}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--concurrency", type=int, default=8, help="provider max_concurrency in each worker")
    ap.add_argument("--calls-per-worker", type=int, default=96)
    ap.add_argument("--latency-s", type=float, default=0.2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432", help="admin URL (trust auth)")
    args = ap.parse_args()
    console = Console(width=150)
    rows = []
    ctx = multiprocessing.get_context("spawn")
    with throwaway_database(args.pg) as store_url, external_server(args.latency_s) as base_url, ctx.Manager() as manager:
        for n in args.levels:
            with ctx.Pool(n) as pool:
                for same in (False, True):
                    rounds = [one_round(pool, manager, store_url, base_url, n, args.concurrency,
                                        args.calls_per_worker, same) for _ in range(args.repeats)]
                    ideal = n * args.concurrency / args.latency_s
                    rate = statistics.median(r["rate"] for r in rounds)
                    rows.append({"workers": n, "handed": "same calls" if same else "distinct calls",
                                 "calls": rounds[0]["calls"], "rate": rate, "ideal": ideal,
                                 "wall": statistics.median(r["wall_s"] for r in rounds),
                                 "duplicates": max(r["duplicates"] for r in rounds),
                                 "errors": max(r["errors"] for r in rounds)})
                    console.print(f"{n} worker(s), {rows[-1]['handed']}: {rate:.1f} calls/s of {ideal:.0f} ideal, "
                                  f"duplicates {rows[-1]['duplicates']}")
    t = Table(title=f"Workers sharing the PostgreSQL call store; stand-in latency {args.latency_s * 1000:.0f} ms, "
                    f"max_concurrency {args.concurrency} per worker; medians of {args.repeats}")
    for col in ("workers", "handed", "calls", "calls/s", "ideal/s", "ratio", "wall s", "duplicate paid calls",
                "errors"):
        t.add_column(col, justify="left" if col == "handed" else "right")
    for r in rows:
        t.add_row(str(r["workers"]), r["handed"], str(r["calls"]), f"{r['rate']:.1f}", f"{r['ideal']:.0f}",
                  f"{100 * r['rate'] / r['ideal']:.0f}%", f"{r['wall']:.2f}", str(r["duplicates"]), str(r["errors"]))
    console.print(t)


if __name__ == "__main__":
    main()
