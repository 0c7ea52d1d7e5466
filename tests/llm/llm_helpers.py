"""Helpers shared by the tests/llm modules (a uniquely named module: conftest is not importable
reliably when several test folders have one)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import urllib.request
from typing import Any

from pipelines.llm import LLMRequest, ModelsConfig

SECRET = "sk-test-SECRET123"
SECRET_ENV = "XPB_TEST_STANDIN_KEY"

# Small, fast policy: fractional backoff so fault tests take milliseconds, not seconds. The
# per-attempt timeout is generous: a busy machine must never turn a normal reply into a timeout.
FAST = {
    "timeout_s": 10.0,
    "deadline_s": 30.0,
    "max_retries": 3,
    "retry_after_cap_s": 2.0,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.05,
}


def make_config(
    base_url: str | None = None,
    *,
    protocol: str = "openai",
    transport: str = "httpx2",
    provider: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    model_id: str = "standin-generic",
) -> ModelsConfig:
    """One stand-in provider ("p") and one model ("m") plus a judge; ``base_url`` None = built-in server."""
    url = None
    if base_url is not None:
        url = base_url + "/v1" if protocol == "openai" else base_url
    prov = {"kind": "standin", "protocol": protocol, "base_url": url, "http_transport": transport, **FAST}
    prov.update(provider or {})
    m = {"provider": "p", "model_id": model_id, "temperature": 0.0, "max_tokens": 256,
         "price_input_per_mtok": 2.0, "price_output_per_mtok": 8.0, "input_cached_per_mtok": 0.5}
    m.update(model or {})
    return ModelsConfig.model_validate(
        {
            "version": "test",
            "providers": {"p": prov},
            "models": {"m": m, "judge": {"provider": "p", "model_id": "standin-judge", "max_tokens": 512}},
            "candidates": ["m"],
            "judge": "judge",
        }
    )


def req(text: str = "What drives bond prices?", model: str = "m", **kw: Any) -> LLMRequest:
    kw.setdefault("template_hash", "tpl-1")
    return LLMRequest(model=model, messages=[{"role": "user", "content": text}], **kw)


def admin(base_url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call an admin route over HTTP (as another process would)."""
    data = None if body is None else json.dumps(body).encode()
    r = urllib.request.Request(base_url + path, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(r, timeout=10) as resp:
        return json.loads(resp.read())


class FakeClock:
    """Virtual time for the runner (pipelines/llm/clock.py): waiting takes no real time.

    A sleeper registers its wake-up time; once every task that can run has reached its next wait
    (a fixed number of loop turns, not a duration), the clock jumps to the earliest wake-up and
    wakes that sleeper. Concurrent sleepers therefore wake in the order of their wake-up times,
    as on a real clock. Real I/O takes no virtual time. Every requested sleep is recorded.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._advancer: asyncio.Task[None] | None = None

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._timers, (self.t + max(0.0, seconds), next(self._seq), fut))
        if self._advancer is None or self._advancer.done():
            self._advancer = loop.create_task(self._advance())
        await fut  # a cancelled sleeper leaves a done future that the advancer skips

    async def _advance(self) -> None:
        while self._timers:
            for _ in range(50):
                await asyncio.sleep(0)
            wake, _, fut = heapq.heappop(self._timers)
            self.t = max(self.t, wake)
            if not fut.done():
                fut.set_result(None)
