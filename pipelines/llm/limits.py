"""Per-provider admission control shared by every call of a runner.

Three limits, taken in this order for each HTTP attempt:
1. concurrency - at most ``limit`` calls in flight (per event loop: asyncio futures are bound to
   their loop), the limit adapting between 1 and ``max_concurrency`` (AIMD, below);
2. a provider-wide cool-down after a 429 that carried retry-after (the provider throttles the
   account, not one request, so every call waits rather than each discovering it separately);
3. ``requests_per_minute`` - calls are spaced 60/rpm seconds apart (no bursts), and
   ``tokens_per_minute`` - a token bucket holding one minute's budget, debited by an estimate
   before the call and corrected with the real usage after it.
The rate state is plain arithmetic on the runner's clock (pipelines/llm/clock.py) under a thread
lock, so it survives across batches and event loops: the limits hold for the runner's whole life.

Adaptive concurrency (AIMD, as TCP congestion control): the concurrency limit starts at
``max_concurrency``; a 429 halves it (at least 1), and each success adds 1/limit to it, so it grows
back by one slot per round of ``limit`` successes, up to ``max_concurrency``. One halving per storm:
a 429 from a call admitted before the last decrease does not decrease again (it was sent under the
old limit), so 16 calls rejected together halve the limit once, not 16 times.
"""

from __future__ import annotations

import asyncio
import math
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field

from pipelines.llm.clock import Clock, MonotonicClock
from pipelines.llm.config import ProviderConfig


@dataclass
class _Gate:
    """Calls in flight on one event loop, and the calls waiting for a slot, first come first woken."""

    in_flight: int = 0
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)

    def wake(self, n: int = 1) -> None:
        """Wake up to ``n`` waiters (each re-checks the limit: a slot taken meanwhile sends it back)."""
        while n > 0 and self.waiters:
            w = self.waiters.popleft()
            if not w.done():
                w.set_result(None)
                n -= 1


class ProviderLimiter:
    def __init__(self, provider: ProviderConfig, clock: Clock | None = None) -> None:
        self.clock = clock or MonotonicClock()
        self.max_concurrency = provider.max_concurrency
        self.rpm = provider.requests_per_minute
        self.tpm = provider.tokens_per_minute
        self._lock = threading.Lock()
        self._next_request_at = 0.0
        self._cooldown_until = 0.0
        self._tokens = float(self.tpm or 0)
        self._tokens_at = self.clock.now()
        self._window = float(self.max_concurrency)  # AIMD congestion window; the limit is its floor
        self._tickets = 0  # admissions so far; a call's ticket tells whether it was sent before a decrease
        self._decreased_at = 0  # first ticket admitted under the current (decreased) limit
        self.decreases = 0
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gate] = weakref.WeakKeyDictionary()

    @property
    def limit(self) -> int:
        """The current concurrency limit (AIMD), between 1 and max_concurrency."""
        return max(1, math.floor(self._window))

    def _gate(self) -> _Gate:
        loop = asyncio.get_running_loop()
        with self._lock:
            gate = self._gates.get(loop)
            if gate is None:
                gate = self._gates[loop] = _Gate()
            return gate

    def throttled(self, ticket: int) -> bool:
        """A 429 for the call admitted with ``ticket``: halve the limit, once per storm. True if it did."""
        with self._lock:
            if ticket < self._decreased_at:
                return False  # sent under the old limit: that storm has been answered already
            self._window = float(max(1, self.limit // 2))
            self._decreased_at = self._tickets
            self.decreases += 1
            return True

    def succeeded(self) -> None:
        """A call came back: the limit grows by one slot per ``limit`` successes, up to max_concurrency."""
        with self._lock:
            before = self.limit
            self._window = min(float(self.max_concurrency), self._window + 1.0 / before)
            grew = self.limit > before
        if grew:  # waiters take the new slot, on their own loop
            with self._lock:
                gates = list(self._gates.items())
            for loop, gate in gates:
                if not loop.is_closed():
                    loop.call_soon_threadsafe(lambda g=gate: g.wake(max(0, self.limit - g.in_flight)))

    def cool_down(self, seconds: float) -> None:
        """Hold every new attempt on this provider for ``seconds`` (from a 429's retry-after)."""
        with self._lock:
            self._cooldown_until = max(self._cooldown_until, self.clock.now() + seconds)

    def _reserve_rate(self, est_tokens: int) -> float:
        """Reserve a request slot and tokens; returns how long to wait before sending."""
        with self._lock:
            now = self.clock.now()
            start = max(now, self._cooldown_until)
            if self.rpm:
                start = max(start, self._next_request_at)
                self._next_request_at = start + 60.0 / self.rpm
            if self.tpm:
                rate = self.tpm / 60.0
                self._tokens = min(float(self.tpm), self._tokens + (now - self._tokens_at) * rate)
                self._tokens_at = now
                # A call larger than the whole minute's budget can still run, once the bucket is full.
                need = min(float(est_tokens), float(self.tpm))
                self._tokens -= need
                if self._tokens < 0:
                    start = max(start, now + (-self._tokens) / rate)
            return start - now

    def settle_tokens(self, estimated: int, actual: int) -> None:
        """Correct the token bucket once the real usage of a call is known."""
        if self.tpm:
            with self._lock:
                self._tokens += min(float(estimated), float(self.tpm)) - actual

    async def _take_slot(self, gate: _Gate) -> int:
        while gate.in_flight >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            gate.waiters.append(waiter)
            try:
                await waiter  # woken by a release or a larger limit; check again
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    gate.wake()  # woken, then cancelled: the slot goes to the next waiter
                raise
        gate.in_flight += 1
        with self._lock:
            self._tickets += 1
            return self._tickets - 1

    async def acquire(self, est_tokens: int) -> int:
        """Take a concurrency slot (under the current AIMD limit), then wait out the cool-down and rate
        limits; returns the call's ticket (pass it to ``throttled`` on a 429).

        Cancellation (e.g. the call's deadline) at any point gives the slot back.
        """
        gate = self._gate()
        ticket = await self._take_slot(gate)
        try:
            if self.rpm or self.tpm:
                wait = self._reserve_rate(est_tokens)
                if wait > 0:
                    await self.clock.sleep(wait)
            # A 429 elsewhere may have started (or extended) a cool-down while we waited.
            while (wait := self._cooldown_wait()) > 0:
                await self.clock.sleep(wait)
        except BaseException:
            self.release()
            raise
        return ticket

    def release(self) -> None:
        gate = self._gate()
        gate.in_flight -= 1
        gate.wake()  # one slot freed: one waiter

    def _cooldown_wait(self) -> float:
        with self._lock:
            return self._cooldown_until - self.clock.now()
