"""LLMRunner: send a batch of requests through the store, limits and retry policy.

    with LLMRunner(load_models_config("models.yaml"), Path("assets/llm_calls.sqlite")) as llm:
        llm.register_oracle({prompt: reference_answer, ...})   # stand-in oracle/partial models
        results = llm.run(requests, desc="generations[oracle]")

* Results come back in request order; a call that finally fails is an ``LLMResult(ok=False)``,
  never an exception (configuration mistakes, e.g. a missing key variable, do raise, before
  anything is sent).
* A request whose key is in the store is answered from it; identical requests in one batch are
  sent once; every success is written to the store as soon as it arrives, so an interrupted
  batch resumes where it stopped.
* Per-call clock: the deadline starts when the call is first admitted by the provider limiter
  (queueing behind max_concurrency does not eat it) and covers attempts, backoff and cool-downs.
* The runner owns one event loop on a background thread for its whole life. SDK clients,
  their connection pools and the provider limits live there and persist across batches, and
  ``run`` works the same from plain code, from a Dagster op, or under a running loop (notebook).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import random
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pipelines.llm.accounting import (
    Estimate,
    ModelEstimate,
    estimate_input_tokens,
    estimate_output_tokens,
)
from pipelines.llm.clients import ChatClient, Completion, build_client, resolve_api_key
from pipelines.llm.config import ModelsConfig
from pipelines.llm.limits import ProviderLimiter
from pipelines.llm.progress import BatchProgress
from pipelines.llm.redact import configured_secrets, redact
from pipelines.llm.retry import Backoff, Failure, classify
from pipelines.llm.standin_server import StandinServer
from pipelines.llm.standins import oracle_key
from pipelines.llm.store import CallStore, StoredCall, call_key, key_material, key_of
from pipelines.llm.types import LLMRequest, LLMResult

_MAX_ERRORS_LOGGED = 5
T = TypeVar("T")


class LLMRunner:
    def __init__(
        self,
        config: ModelsConfig,
        store_path: Path | str,
        log: Callable[[str], None] | None = None,
        progress: bool = True,
        *,
        standin_latency_s: float = 0.0,
        seed: int | None = None,
    ) -> None:
        """``standin_latency_s`` delays every built-in stand-in reply (benchmarks); ``seed`` fixes
        the backoff jitter (answers never depend on it)."""
        self.config = config
        self.store = CallStore(store_path)
        self._log = log
        self._progress = progress
        self._standin_latency_s = standin_latency_s
        self._limiters = {name: ProviderLimiter(p) for name, p in config.providers.items()}
        self._server: StandinServer | None = None
        self._loop: _LoopThread | None = None
        self._clients: dict[str, ChatClient] = {}
        self._oracle: dict[str, str] = {}
        # Every configured provider's key, not only those of clients this run builds (llm/redact.py).
        self._secrets: set[str] = set(configured_secrets(config))
        self._rng = random.Random(seed)

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> LLMRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> LLMRunner:
        """Start the event loop thread and, if a model needs it, the stand-in server (idempotent)."""
        self._secrets |= configured_secrets(self.config)  # variables set after construction too
        if self._loop is None:
            self._loop = _LoopThread()
        if self._server is None and self.config.uses_standin():
            self._server = StandinServer(latency_s=self._standin_latency_s).start()
            if self._oracle:
                self._server.add_oracle(self._oracle)
        return self

    def close(self) -> None:
        """Close SDK clients, stop the loop thread and the stand-in server; safe to call twice."""
        loop, self._loop = self._loop, None
        server, self._server = self._server, None
        try:
            if loop is not None:
                try:
                    loop.submit(self._close_clients()).result(timeout=30)
                finally:
                    loop.stop()
        finally:
            try:
                if server is not None:
                    server.stop()
            finally:
                self.store.close()

    async def _close_clients(self) -> None:
        clients, self._clients = self._clients, {}
        await asyncio.gather(*(c.aclose() for c in clients.values()), return_exceptions=True)

    @property
    def standin(self) -> StandinServer | None:
        """The built-in stand-in server, when one is running (tests script faults through it)."""
        return self._server

    def register_oracle(self, mapping: dict[str, str]) -> int:
        """Give stand-in oracle/partial models their reference answers: ``{prompt: reference}``.

        ``prompt`` is the exact last user message the candidate will receive. Entries are hashed
        (:func:`pipelines.llm.standins.oracle_key`) and forwarded to the built-in server (now or
        when it starts) and to every stand-in provider configured with its own ``base_url``.
        """
        entries = {oracle_key(p): ref for p, ref in mapping.items()}
        self._oracle.update(entries)
        if self._server is not None:
            self._server.add_oracle(entries)
        for p in self.config.providers.values():
            if p.kind == "standin" and p.base_url:
                parts = urlsplit(p.base_url)
                req = urllib.request.Request(
                    f"{parts.scheme}://{parts.netloc}/_oracle",
                    data=json.dumps({"entries": entries}).encode(),
                    headers={"content-type": "application/json"},
                )
                with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - configured URL
                    resp.read()
        return len(entries)

    def reject(self, rejections: list[tuple[str, str]]) -> int:
        """Drop unusable replies from the store (kept aside for inspection); see CallStore.reject."""
        return self.store.reject(rejections)

    # -- keys ----------------------------------------------------------------------------
    def call_key(self, request: LLMRequest) -> str:
        return call_key(request, self.config)

    def key_material(self, request: LLMRequest) -> dict[str, Any]:
        return key_material(request, self.config)

    # -- dry run -------------------------------------------------------------------------
    def estimate(self, requests: Sequence[LLMRequest]) -> Estimate:
        """Calls needed, store hits, estimated tokens and cost per model; nothing is sent."""
        keys = [self.call_key(r) for r in requests]
        hits = self.store.contains_many(keys)
        est = Estimate(requests=len(requests))
        seen: set[str] = set()
        for r, k in zip(requests, keys, strict=True):
            model = self.config.model(r.model)
            pe = est.per_model.setdefault(r.model, ModelEstimate())
            if k in hits:
                est.store_hits += 1
                pe.store_hits += 1
            elif k in seen:
                est.duplicates += 1
            else:
                seen.add(k)
                tin, tout = estimate_input_tokens(r), estimate_output_tokens(model)
                cost = model.cost_usd(tin, tout)
                est.calls_needed += 1
                est.input_tokens += tin
                est.output_tokens += tout
                est.cost_usd += cost
                pe.calls += 1
                pe.input_tokens += tin
                pe.output_tokens += tout
                pe.cost_usd += cost
        return est

    # -- running -------------------------------------------------------------------------
    def run(self, requests: Sequence[LLMRequest], desc: str = "") -> list[LLMResult]:
        """Synchronous entry point: results in request order."""
        loop = self.start()._loop
        assert loop is not None
        if loop.is_current():
            raise RuntimeError("LLMRunner.run() called from the runner's own loop; use `await arun()`")
        fut = loop.submit(self._arun(requests, desc))
        try:
            return fut.result()
        except BaseException:
            # Ctrl-C or a caller-side cancellation: stop the batch instead of letting it run on
            # unseen in the background. Finished calls are already in the store.
            fut.cancel()
            raise

    async def arun(self, requests: Sequence[LLMRequest], desc: str = "") -> list[LLMResult]:
        """Async entry point, awaitable from any event loop; the work runs on the runner's loop."""
        loop = self.start()._loop
        assert loop is not None
        if loop.is_current():
            return await self._arun(requests, desc)
        return await asyncio.wrap_future(loop.submit(self._arun(requests, desc)))

    async def _arun(self, requests: Sequence[LLMRequest], desc: str) -> list[LLMResult]:
        desc = desc or "llm"
        materials = [self.key_material(r) for r in requests]
        keys = [key_of(m) for m in materials]
        stored = self.store.get_many(keys)
        results: list[LLMResult | None] = [None] * len(requests)
        first: dict[str, int] = {}
        followers: dict[int, list[int]] = {}
        to_send: list[int] = []
        for i, (r, k) in enumerate(zip(requests, keys, strict=True)):
            if k in stored:
                results[i] = self._from_store(r, k, stored[k])
            elif k in first:
                followers.setdefault(first[k], []).append(i)
            else:
                first[k] = i
                to_send.append(i)
        n_hits = len(requests) - len(to_send) - sum(map(len, followers.values()))
        progress = BatchProgress(desc, len(requests), self._safe_log, self._progress)
        progress.log(
            f"{desc}: {len(requests)} requests: {len(to_send)} to send, {n_hits} from store, "
            f"{len(requests) - len(to_send) - n_hits} duplicates"
        )
        if n_hits:
            progress.advance(n_hits, from_store=True)
        stats: Counter[str] = Counter()
        writes = _BatchedWrites(self.store, progress.log)
        try:
            clients = self._clients_for({self.config.model(requests[i].model).provider for i in to_send})

            async def one(i: int) -> None:
                res = await self._call(requests[i], keys[i], clients, stats)
                if res.ok:
                    writes.add(keys[i], requests[i].model, materials[i], _response_record(res))
                results[i] = res
                if not res.ok:
                    stats["errors"] += 1
                    if stats["errors"] <= _MAX_ERRORS_LOGGED:
                        progress.log(
                            f"{desc}: {res.model} call {res.call_key[:12]} failed after {res.attempts} "
                            f"attempt(s): {res.error_type}: {res.error_message}"
                        )
                progress.advance(1 + len(followers.get(i, ())), error=not res.ok)

            await asyncio.gather(*(one(i) for i in to_send))
        finally:
            progress.close()
            writes.flush(final=True)  # raises if the store cannot be written: results would be lost
        if to_send:
            progress.log(
                f"{desc}: sent {len(to_send)} calls ({stats['attempts']} attempts, {stats['retries']} retries), "
                f"{stats['errors']} failed"
            )
        for lead, idxs in followers.items():
            lead_res = results[lead]
            assert lead_res is not None
            for i in idxs:
                results[i] = lead_res.model_copy(update={"tags": dict(requests[i].tags)})
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    # -- internals -----------------------------------------------------------------------
    def _base_url(self, provider_name: str) -> str | None:
        p = self.config.providers[provider_name]
        if p.kind == "standin" and p.base_url is None:
            assert self._server is not None, "stand-in server not started"
            # OpenAI clients append /chat/completions to a base ending in /v1; Anthropic clients
            # append /v1/messages to the bare origin.
            return self._server.base_url + ("/v1" if p.wire == "openai" else "")
        return p.base_url

    def _clients_for(self, provider_names: set[str]) -> dict[str, ChatClient]:
        """Clients for these providers, built on first use and kept for the runner's life."""
        for name in sorted(provider_names - set(self._clients)):
            p = self.config.providers[name]
            key = resolve_api_key(name, p)  # raises ConfigError before anything is sent
            if p.api_key_env:
                self._secrets.add(key)
            self._clients[name] = build_client(name, p, self._base_url(name))
        return {name: self._clients[name] for name in provider_names}

    def _redact(self, text: str | None) -> str | None:
        return redact(text, self._secrets)

    @property
    def _safe_log(self) -> Callable[[str], None] | None:
        """The log callback with keys redacted (batch progress and store-write errors go through it)."""
        if self._log is None:
            return None
        log = self._log
        return lambda msg: log(self._redact(msg) or "")

    def _from_store(self, request: LLMRequest, key: str, sc: StoredCall) -> LLMResult:
        model = self.config.model(request.model)
        resp = sc.response
        usage = resp.get("usage", {})
        tin, tout, tcached = (int(usage.get(k, 0)) for k in ("input_tokens", "output_tokens", "cached_tokens"))
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
            latency_s=float(resp.get("latency_s", 0.0)),
            cost_usd=model.cost_usd(tin, tout, tcached),
            from_store=True,
            attempts=0,
            tags=dict(request.tags),
        )

    async def _call(
        self, request: LLMRequest, key: str, clients: dict[str, ChatClient], stats: Counter[str]
    ) -> LLMResult:
        model = self.config.model(request.model)
        provider = self.config.providers[model.provider]
        limiter = self._limiters[model.provider]
        client = clients[model.provider]
        backoff = Backoff(provider.backoff_base_s, provider.backoff_max_s, provider.retry_after_cap_s)
        est_tokens = estimate_input_tokens(request) + estimate_output_tokens(model)
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        attempts = 0
        failure: Failure | None = None
        while True:
            completion: Completion | None = None
            if deadline is None:
                await limiter.acquire(est_tokens)
                deadline = loop.time() + provider.deadline_s
            else:
                try:
                    # A retry queues for a slot again; that wait counts against the deadline.
                    async with asyncio.timeout_at(deadline):
                        await limiter.acquire(est_tokens)
                except TimeoutError:
                    return self._failed(request, key, attempts, _deadline_failure(provider.deadline_s, failure))
            try:
                budget = min(provider.timeout_s, deadline - loop.time())
                if budget <= 0:
                    return self._failed(request, key, attempts, _deadline_failure(provider.deadline_s, failure))
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
                return self._succeeded(request, key, attempts, completion)
            assert failure is not None
            if not failure.retryable or attempts > provider.max_retries:
                return self._failed(request, key, attempts, failure)
            if failure.status == 429 and failure.retry_after_s:
                limiter.cool_down(min(failure.retry_after_s, provider.retry_after_cap_s))
            delay = backoff.delay(attempts - 1, failure.retry_after_s, self._rng)
            if loop.time() + delay >= deadline:
                return self._failed(request, key, attempts, _deadline_failure(provider.deadline_s, failure))
            stats["retries"] += 1
            await asyncio.sleep(delay)

    def _succeeded(self, request: LLMRequest, key: str, attempts: int, c: Completion) -> LLMResult:
        model = self.config.model(request.model)
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
            latency_s=c.latency_s,
            cost_usd=model.cost_usd(c.input_tokens, c.output_tokens, c.cached_tokens),
            from_store=False,
            attempts=attempts,
            tags=dict(request.tags),
        )

    def _failed(self, request: LLMRequest, key: str, attempts: int, f: Failure) -> LLMResult:
        return LLMResult(
            call_key=key,
            model=request.model,
            ok=False,
            attempts=attempts,
            error_type=f.error_type,
            error_message=self._redact(f.message),
            tags=dict(request.tags),
        )


class _LoopThread:
    """An asyncio event loop running forever on a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="llm-runner-loop", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def is_current(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        async def _drain() -> None:
            # Let cancelled batches unwind before the loop stops.
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.submit(_drain()).result(timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self.loop.close()


def _response_record(r: LLMResult) -> dict[str, Any]:
    """What the store keeps of a successful call (everything needed to rebuild the result)."""
    return {
        "text": r.text,
        "model_reported": r.model_reported,
        "finish_reason": r.finish_reason,
        "usage": {"input_tokens": r.input_tokens, "output_tokens": r.output_tokens, "cached_tokens": r.cached_tokens},
        "latency_s": round(r.latency_s, 4),
    }


class _BatchedWrites:
    """Store successes in small transactions instead of one commit per call.

    A commit per call costs more CPU on the event loop than the rest of our per-call work; rows
    wait at most ``flush_s`` (or until ``max_rows`` are pending), so an interrupted batch loses
    at most that much, and everything is flushed before ``arun`` returns.
    """

    def __init__(
        self, store: CallStore, log: Callable[[str], None], flush_s: float = 0.05, max_rows: int = 256
    ) -> None:
        self._store, self._log = store, log
        self._flush_s, self._max_rows = flush_s, max_rows
        self._rows: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, key: str, model: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        self._rows.append((key, model, request, response))
        if len(self._rows) >= self._max_rows:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._flush_s, self.flush)

    def flush(self, final: bool = False) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        try:
            self._store.put_many(rows)
        except Exception as exc:
            if final:
                raise
            self._rows[:0] = rows  # keep them for the final flush
            self._log(f"call store write failed, will retry at the end of the batch: {exc}")


def _deadline_failure(deadline_s: float, last: Failure | None) -> Failure:
    tail = f"; last error: {last.error_type}: {last.message}" if last else ""
    return Failure("DeadlineExceeded", f"no answer within deadline_s={deadline_s:g}{tail}", False)
