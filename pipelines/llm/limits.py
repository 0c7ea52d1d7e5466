"""Per-provider admission control shared by every call of a runner.

Three limits, taken in this order for each HTTP attempt:
1. ``max_concurrency`` - an asyncio semaphore (one per event loop: asyncio primitives are bound
   to the loop that first uses them, and ``LLMRunner.run`` starts a fresh loop per batch);
2. a provider-wide cool-down after a 429 that carried retry-after (the provider throttles the
   account, not one request, so every call waits rather than each discovering it separately);
3. ``requests_per_minute`` - calls are spaced 60/rpm seconds apart (no bursts), and
   ``tokens_per_minute`` - a token bucket holding one minute's budget, debited by an estimate
   before the call and corrected with the real usage after it.
The rate state is plain arithmetic on the runner's clock (pipelines/llm/clock.py) under a thread
lock, so it survives across batches and event loops: the limits hold for the runner's whole life.
"""

from __future__ import annotations

import asyncio
import threading
import weakref

from pipelines.llm.clock import Clock, MonotonicClock
from pipelines.llm.config import ProviderConfig


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
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        with self._lock:
            sem = self._semaphores.get(loop)
            if sem is None:
                sem = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
            return sem

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

    async def acquire(self, est_tokens: int) -> None:
        """Take a concurrency slot, then wait out the cool-down and rate limits.

        Cancellation (e.g. the call's deadline) at any point gives the slot back.
        """
        sem = self._semaphore()
        await sem.acquire()
        try:
            if self.rpm or self.tpm:
                wait = self._reserve_rate(est_tokens)
                if wait > 0:
                    await self.clock.sleep(wait)
            # A 429 elsewhere may have started (or extended) a cool-down while we waited.
            while (wait := self._cooldown_wait()) > 0:
                await self.clock.sleep(wait)
        except BaseException:
            sem.release()
            raise

    def release(self) -> None:
        self._semaphore().release()

    def _cooldown_wait(self) -> float:
        with self._lock:
            return self._cooldown_until - self.clock.now()
