"""Token-aware limits and adaptive concurrency (AIMD), on the virtual clock and through the real SDKs
against the stand-in returning 429s. Nothing here measures wall time: requests are counted per
virtual-clock window and calls in flight are counted at admission."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from llm_helpers import FakeClock, make_config, req

from pipelines.llm import StandinServer
from pipelines.llm.limits import ProviderLimiter


class Recording(ProviderLimiter):
    """The runner's limiter, recording each admission's virtual time and the calls then in flight."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.admitted: list[tuple[float, int, int]] = []  # (virtual time, in flight, limit)

    async def acquire(self, est_tokens: int) -> int:
        ticket = await super().acquire(est_tokens)
        self.admitted.append((self.clock.now(), self._gate().in_flight, self.limit))
        return ticket


def recording_runner(runner_for: Any, clock: FakeClock, protocol: str = "openai",
                     **provider: Any) -> tuple[Any, Recording]:
    runner = runner_for(provider=provider, clock=clock, protocol=protocol)
    lim = Recording(runner.config.providers["p"], clock)
    runner._limiters["p"] = lim
    return runner, lim


def test_aimd_arithmetic_one_halving_per_storm() -> None:
    lim = ProviderLimiter(make_config("http://127.0.0.1:1", provider={"max_concurrency": 16}).providers["p"],
                          FakeClock())
    tickets = [asyncio.run(_ticket(lim)) for _ in range(16)]  # 16 calls admitted under limit 16
    assert lim.throttled(tickets[0]) and lim.limit == 8
    # The other 15 calls of that storm were sent under the old limit: no further halving.
    assert not any(lim.throttled(t) for t in tickets[1:]) and lim.limit == 8 and lim.decreases == 1
    later = asyncio.run(_ticket(lim))  # admitted after the decrease: a new 429 halves again
    assert lim.throttled(later) and lim.limit == 4
    for _ in range(4):  # additive increase: one slot per `limit` successes
        lim.succeeded()
    assert lim.limit == 5
    for _ in range(200):
        lim.succeeded()
    assert lim.limit == 16  # never above max_concurrency
    for _ in range(10):
        lim.throttled(asyncio.run(_ticket(lim)))
    assert lim.limit == 1  # never below 1


async def _ticket(lim: ProviderLimiter) -> int:
    t = await lim.acquire(0)
    lim.release()
    return t


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_429_storm_halves_concurrency_and_it_recovers(runner_for: Any, server: StandinServer, protocol: str) -> None:
    clock = FakeClock()
    runner, lim = recording_runner(runner_for, clock, protocol=protocol, max_concurrency=8, max_retries=5)
    # The first wave of 8 calls is answered 429 (one storm), then everything succeeds.
    server.script([{"status": 429, "delay_s": 0.05}] * 8)
    res = runner.run([req(f"storm {i}") for i in range(60)], desc="storm")
    assert all(r.ok for r in res)
    assert lim.decreases == 1  # 8 rejections of calls sent together: one halving
    limits = [limit for _, _, limit in lim.admitted]
    assert min(limits) == 4 and limits[-1] > 4  # halved, then grew back additively
    assert all(n <= limit for _, n, limit in lim.admitted)  # never more in flight than the current limit
    first_low = limits.index(4)
    assert limits.index(5, first_low) - first_low >= 4  # +1 only after a round of `limit` successes
    # The lowered limit was in the progress output.
    assert any(f"concurrency {k}/8 (p)" in line for line in runner.lines for k in range(4, 8))


def test_requests_per_minute_counted_per_window(runner_for: Any, server: StandinServer) -> None:
    clock = FakeClock()
    runner, lim = recording_runner(runner_for, clock, max_concurrency=16, requests_per_minute=30)
    res = runner.run([req(f"q{i}") for i in range(75)])
    assert all(r.ok for r in res) and len(server.request_log()) == 75
    t0 = lim.admitted[0][0]
    per_window = Counter(int((t - t0) // 60) for t, _, _ in lim.admitted)
    assert max(per_window.values()) <= 30 and sorted(per_window) == [0, 1, 2]


def test_tokens_per_minute_counted_per_window_and_settled(runner_for: Any, server: StandinServer) -> None:
    clock = FakeClock()
    # Each call is estimated at ~1,000 prompt tokens (2,500 characters at 2.5 per token) + max_tokens 256.
    tpm = 6000
    # One call at a time, so that each call's settled usage is back in the bucket before the next reserves.
    runner, lim = recording_runner(runner_for, clock, max_concurrency=1, tokens_per_minute=tpm)
    server.script([{"content": "Short reply."}] * 30)
    res = runner.run([req(f"{i:04d} " + "x" * 2495) for i in range(30)])
    assert all(r.ok for r in res)
    used = max(r.input_tokens + r.output_tokens for r in res)
    est = 1000 + 8 + 4 + 256
    assert used < est  # the stand-in bills fewer tokens than estimated: settling gives the rest back
    t0 = lim.admitted[0][0]
    per_window = Counter(int((t - t0) // 60) for t, _, _ in lim.admitted)
    # The bucket starts with one minute's budget and refills at tpm per minute.
    assert per_window[0] * used <= 2 * tpm + est
    assert all(n * used <= tpm + est for w, n in per_window.items() if w > 0)
    # Settled with the real usage, the run takes the minutes its real usage needs, not what the estimates
    # alone would take (30 x 1,268 tokens: about 6 minutes).
    span = lim.admitted[-1][0] - t0
    assert (30 * used - tpm) / tpm * 60 - 60 <= span <= (30 * used - tpm) / tpm * 60 + 60 < (30 * est - tpm) / tpm * 60
