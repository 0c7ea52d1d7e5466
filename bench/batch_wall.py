"""Stand-in wall time of batch mode versus synchronous mode for the same calls.

    .venv/bin/python bench/batch_wall.py [--calls 200] [--repeats 5] [--latency-s 0.2] [--concurrency 8]
                                         [--poll-s 0.5] [--polls 2] [--protocols openai anthropic]

The stand-in server runs in its own process (like a remote provider). For each protocol and
repeat, a fresh store and runner send the same N distinct calls through the real SDK, once in
``mode: sync`` (one request each, ``max_concurrency`` at a time, each answered after
``--latency-s``) and once in ``mode: batch`` (one upload / batch create, polled every ``--poll-s``
on the real clock, the stand-in ends the batch at the ``--polls``-th poll, then the results are
downloaded and stored). Medians over the repeats, side by side, in one run.

What this measures is the client side: building, uploading, polling and storing a batch against
answering the calls one by one. A real provider's batch finishes within its 24 h window, usually
minutes to hours, which no stand-in figure predicts; batch mode trades that latency for half price.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.llm_throughput import external_server  # noqa: E402
from pipelines.llm import LLMRequest, LLMRunner, ModelsConfig  # noqa: E402


def config(base_url: str, protocol: str, mode: str, concurrency: int, poll_s: float) -> ModelsConfig:
    prov = {"kind": protocol, "base_url": base_url + ("/v1" if protocol == "openai" else ""), "needs_key": False,
            "max_concurrency": concurrency, "mode": mode, "batch_poll_s": poll_s, "timeout_s": 60}
    return ModelsConfig.model_validate({
        "version": "bench", "providers": {"p": prov},
        "models": {"m": {"provider": "p", "model_id": "standin-generic", "max_tokens": 256, "temperature": 0.0}},
        "candidates": ["m"], "judge": "m"})


def admin(base_url: str, path: str, body: dict) -> None:
    r = urllib.request.Request(base_url + path, data=json.dumps(body).encode(),
                               headers={"content-type": "application/json"})
    with urllib.request.urlopen(r, timeout=30) as resp:  # noqa: S310 - loopback
        resp.read()


def one_run(base_url: str, protocol: str, mode: str, n: int, args: argparse.Namespace, tag: str) -> float:
    reqs = [LLMRequest(model="m", messages=[{"role": "user", "content": f"{tag} question {i}: what moves rates?"}],
                       template_hash="bench") for i in range(n)]
    with tempfile.TemporaryDirectory() as d:
        with LLMRunner(config(base_url, protocol, mode, args.concurrency, args.poll_s), Path(d) / "c.sqlite",
                       progress=False) as llm:
            t0 = time.perf_counter()
            res = llm.run(reqs, desc=f"{protocol}-{mode}")
            wall = time.perf_counter() - t0
    bad = [r for r in res if not r.ok]
    if bad:
        raise SystemExit(f"{len(bad)} calls failed, e.g. {bad[0].error_type}: {bad[0].error_message}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--latency-s", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--poll-s", type=float, default=0.5)
    ap.add_argument("--polls", type=int, default=2, help="the stand-in ends a batch at this poll")
    ap.add_argument("--protocols", nargs="+", default=["openai", "anthropic"])
    args = ap.parse_args()
    table = Table(title=f"{args.calls} calls, stand-in latency {args.latency_s:g} s, concurrency {args.concurrency}, "
                        f"batch polled every {args.poll_s:g} s and ended at poll {args.polls}; median of {args.repeats}")
    for col in ("protocol", "sync s", "batch s", "batch / sync", "sync calls/s", "batch calls/s"):
        table.add_column(col, justify="right")
    with external_server(args.latency_s) as url:
        admin(url, "/_batches", {"complete_after_polls": args.polls})
        for protocol in args.protocols:
            walls: dict[str, list[float]] = {"sync": [], "batch": []}
            for rep in range(args.repeats):
                for mode in ("sync", "batch"):  # interleaved, so machine load hits both alike
                    walls[mode].append(one_run(url, protocol, mode, args.calls, args, f"{protocol}{rep}{mode}"))
            s, b = statistics.median(walls["sync"]), statistics.median(walls["batch"])
            table.add_row(protocol, f"{s:.2f}", f"{b:.2f}", f"{b / s:.2f}", f"{args.calls / s:.1f}",
                          f"{args.calls / b:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
