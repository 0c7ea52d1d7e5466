"""One call through the provider's limits and retry policy, and the results it can end in.

Per-call clock: the deadline starts when the call is first admitted by the provider limiter
(queueing behind max_concurrency does not eat it) and covers attempts, backoff and cool-downs.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable

from pipelines.llm import cancel
from pipelines.llm.accounting import estimate_output_tokens
from pipelines.llm.clients import ChatClient, Completion
from pipelines.llm.clock import Clock
from pipelines.llm.config import ModelsConfig
from pipelines.llm.limits import ProviderLimiter
from pipelines.llm.retry import Backoff, Failure, classify
from pipelines.llm.store import StoredCall
from pipelines.llm.tokens import estimate_prompt_tokens
from pipelines.llm.types import LLMRequest, LLMResult


async def call_with_retries(
    config: ModelsConfig, request: LLMRequest, key: str, client: ChatClient, limiter: ProviderLimiter,
    stats: Counter[str], rng: random.Random, redact: Callable[[str | None], str | None], clock: Clock,
) -> LLMResult:
    model = config.model(request.model)
    provider = config.providers[model.provider]
    backoff = Backoff(provider.backoff_base_s, provider.backoff_max_s, provider.retry_after_cap_s)
    # Debited from the tokens-per-minute budget before the call, settled with the real usage after.
    est_tokens = estimate_prompt_tokens(request) + estimate_output_tokens(model)
    deadline: float | None = None
    attempts = 0
    failure: Failure | None = None

    def failed(f: Failure) -> LLMResult:
        return failed_result(request, key, attempts, f, redact)

    while True:
        completion: Completion | None = None
        if deadline is None:
            ticket = await limiter.acquire(est_tokens)
            deadline = clock.now() + provider.deadline_s
        else:
            try:
                # A retry queues for a slot again; that wait counts against the deadline.
                async with asyncio.timeout(max(0.0, deadline - clock.now())):
                    ticket = await limiter.acquire(est_tokens)
            except TimeoutError:
                return failed(deadline_failure(provider.deadline_s, failure))
        try:
            await cancel.checkpoint()  # after a Ctrl-C nothing new leaves, retries included
            budget = min(provider.timeout_s, deadline - clock.now())
            if budget <= 0:
                return failed(deadline_failure(provider.deadline_s, failure))
            attempts += 1
            stats["attempts"] += 1
            try:
                # The SDK timeout bounds each read; asyncio.timeout bounds the whole attempt
                # (a body trickling in byte by byte never trips a read timeout).
                async with asyncio.timeout(budget):
                    completion = await client.complete(model, request, budget)
            except Exception as exc:  # noqa: BLE001 - every failure is classified below
                failure = classify(exc)
        finally:
            limiter.release()
        if completion is not None:
            limiter.settle_tokens(est_tokens, completion.input_tokens + completion.output_tokens)
            limiter.succeeded()
            return succeeded_result(config, request, key, attempts, completion)
        assert failure is not None
        if failure.status == 429:
            limiter.throttled(ticket)  # AIMD: fewer calls at once while the provider pushes back
        if not failure.retryable or attempts > provider.max_retries:
            return failed(failure)
        if failure.status == 429 and failure.retry_after_s:
            limiter.cool_down(min(failure.retry_after_s, provider.retry_after_cap_s))
        delay = backoff.delay(attempts - 1, failure.retry_after_s, rng)
        if clock.now() + delay >= deadline:
            return failed(deadline_failure(provider.deadline_s, failure))
        stats["retries"] += 1
        await clock.sleep(delay)


def succeeded_result(config: ModelsConfig, request: LLMRequest, key: str, attempts: int, c: Completion,
                     *, batch: bool = False) -> LLMResult:
    """The result of an answered call; ``batch``: answered through the provider's batch API (priced at
    the model's ``batch_discount``)."""
    model = config.model(request.model)
    return LLMResult(
        call_key=key,
        model=request.model,
        ok=True,
        text=c.text,
        model_reported=c.model_reported,
        finish_reason=c.finish_reason,
        input_tokens=c.input_tokens,
        output_tokens=c.output_tokens,
        cached_tokens=c.cached_tokens,
        cache_write_tokens=c.cache_write_tokens,
        latency_s=c.latency_s,
        cost_usd=model.cost_usd(c.input_tokens, c.output_tokens, c.cached_tokens, c.cache_write_tokens, batch=batch),
        from_store=False,
        attempts=attempts,
        tags=dict(request.tags),
    )


def stored_result(config: ModelsConfig, request: LLMRequest, key: str, sc: StoredCall) -> LLMResult:
    model = config.model(request.model)
    resp = sc.response
    usage = resp.get("usage", {})
    tin, tout, tcached, twrite = (int(usage.get(k, 0)) for k in
                                  ("input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens"))
    return LLMResult(
        call_key=key,
        model=request.model,
        ok=True,
        text=resp["text"],
        model_reported=resp.get("model_reported"),
        finish_reason=resp.get("finish_reason"),
        input_tokens=tin,
        output_tokens=tout,
        cached_tokens=tcached,
        cache_write_tokens=twrite,
        latency_s=float(resp.get("latency_s", 0.0)),
        cost_usd=model.cost_usd(tin, tout, tcached, twrite, batch=resp.get("mode") == "batch"),
        from_store=True,
        attempts=0,
        tags=dict(request.tags),
        mode=resp.get("mode", "sync"),
        batch_id=resp.get("batch_id"),
    )


def failed_result(request: LLMRequest, key: str, attempts: int, f: Failure,
                  redact: Callable[[str | None], str | None]) -> LLMResult:
    return LLMResult(
        call_key=key,
        model=request.model,
        ok=False,
        attempts=attempts,
        error_type=f.error_type,
        error_message=redact(f.message),
        tags=dict(request.tags),
    )


def deadline_failure(deadline_s: float, last: Failure | None) -> Failure:
    tail = f"; last error: {last.error_type}: {last.message}" if last else ""
    return Failure("DeadlineExceeded", f"no answer within deadline_s={deadline_s:g}{tail}", False)
