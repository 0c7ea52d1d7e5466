"""The one source of time for rate limits, cool-downs, backoff and deadlines.

Injected into the runner (``LLMRunner(clock=...)``) so that tests drive waiting with a virtual
clock (tests/llm/llm_helpers.py ``FakeClock``) instead of asserting on wall-clock spacing. The
per-attempt timeout of an HTTP call stays real time: it bounds real I/O.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale (only differences mean anything)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock."""
        ...


class MonotonicClock:
    """Real time: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
