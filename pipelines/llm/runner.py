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
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipelines.llm import cancel
from pipelines.llm.accounting import Estimate, estimate_requests
from pipelines.llm.attempt import call_with_retries, stored_result
from pipelines.llm.batch import BatchJob, BatchSender
from pipelines.llm.claims import DEFAULT_TTL_S, BatchClaims, Claim
from pipelines.llm.clients import ChatClient, build_client, resolve_api_key
from pipelines.llm.clock import Clock, MonotonicClock
from pipelines.llm.config import ModelsConfig
from pipelines.llm.limits import ProviderLimiter
from pipelines.llm.loop_thread import LoopThread
from pipelines.llm.progress import BatchProgress, ReplyCheck
from pipelines.llm.redact import configured_secrets, redact
from pipelines.llm.standin_server import StandinServer
from pipelines.llm.standins import oracle_key
from pipelines.llm.store import CallStoreBase, StoredCall, call_key, key_material, key_of, open_store
from pipelines.llm.types import LLMRequest, LLMResult
from pipelines.llm.writes import BatchedWrites, response_record

_MAX_ERRORS_LOGGED = 5


class LLMRunner:
    def __init__(
        self,
        config: ModelsConfig,
        store_path: Path | str | CallStoreBase,
        log: Callable[[str], None] | None = None,
        progress: bool = True,
        *,
        standin_latency_s: float = 0.0,
        seed: int | None = None,
        claim_ttl_s: float = DEFAULT_TTL_S,
        clock: Clock | None = None,
    ) -> None:
        """``store_path``: a SQLite path, a store URL (``sqlite:///...``, ``postgresql://...``) or a
        store. ``standin_latency_s`` delays every built-in stand-in reply (benchmarks); ``seed`` fixes
        the backoff jitter (answers never depend on it); ``claim_ttl_s``: after how long without
        renewal another worker may take over a call this runner claimed (llm/claims.py); ``clock``
        times limits, backoff and deadlines (tests pass a virtual one)."""
        self.config = config
        self.store = open_store(store_path)
        self._claim_ttl_s = claim_ttl_s
        self._log = log
        self._progress = progress
        self._standin_latency_s = standin_latency_s
        self._clock = clock or MonotonicClock()
        self._limiters = {name: ProviderLimiter(p, self._clock) for name, p in config.providers.items()}
        self._server: StandinServer | None = None
        self._loop: LoopThread | None = None
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
            self._loop = LoopThread()
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
        return estimate_requests(self.config, requests, keys, self.store.contains_many(keys))

    # -- running -------------------------------------------------------------------------
    def run(self, requests: Sequence[LLMRequest], desc: str = "", check: ReplyCheck | None = None) -> list[LLMResult]:
        """Synchronous entry point: results in request order. ``check`` counts problems in
        successful replies (e.g. a judge reply's unresolved checkpoints) for the progress bar."""
        loop = self.start()._loop
        assert loop is not None
        if loop.is_current():
            raise RuntimeError("LLMRunner.run() called from the runner's own loop; use `await arun()`")
        fut = loop.submit(self._arun(requests, desc, check))
        try:
            return fut.result()
        except BaseException as exc:
            # Ctrl-C or a caller-side cancellation: stop the batch instead of letting it run on
            # unseen in the background. Finished calls are already in the store.
            fut.cancel()
            if cancel.stopping() and isinstance(exc, concurrent.futures.CancelledError | asyncio.CancelledError):
                raise cancel.LLMCancelled(f"{desc or 'llm'}: stopped by a cancel request (Ctrl-C/SIGTERM); "
                                          "finished calls are in the store") from None
            raise

    async def arun(self, requests: Sequence[LLMRequest], desc: str = "", check: ReplyCheck | None = None) -> list[LLMResult]:
        """Async entry point, awaitable from any event loop; the work runs on the runner's loop."""
        loop = self.start()._loop
        assert loop is not None
        if loop.is_current():
            return await self._arun(requests, desc, check)
        return await asyncio.wrap_future(loop.submit(self._arun(requests, desc, check)))

    async def _arun(self, requests: Sequence[LLMRequest], desc: str, check: ReplyCheck | None = None) -> list[LLMResult]:
        with cancel.batch():  # reachable by cancel.cancel_batches() (Ctrl-C in the CLI)
            return await self._arun_batch(requests, desc or "llm", check)

    async def _arun_batch(self, requests: Sequence[LLMRequest], desc: str,
                          check: ReplyCheck | None = None) -> list[LLMResult]:
        materials = [self.key_material(r) for r in requests]
        keys = [key_of(m) for m in materials]
        stored = self.store.get_many(keys)
        results: list[LLMResult | None] = [None] * len(requests)
        first: dict[str, int] = {}
        followers: dict[int, list[int]] = {}
        to_send: list[int] = []
        for i, (r, k) in enumerate(zip(requests, keys, strict=True)):
            if k in stored:
                results[i] = stored_result(self.config, r, k, stored[k])
            elif k in first:
                followers.setdefault(first[k], []).append(i)
            else:
                first[k] = i
                to_send.append(i)
        n_hits = len(requests) - len(to_send) - sum(map(len, followers.values()))
        progress = BatchProgress(desc, len(requests), self._safe_log, self._progress,
                                 problems_label=check.label if check else None, limits=self.limits_line)

        def problems(idxs: Sequence[int], res: LLMResult) -> int:
            return sum(check.count(requests[j], res) for j in idxs) if check is not None and res.ok else 0

        progress.log(
            f"{desc}: {len(requests)} requests: {len(to_send)} to send, {n_hits} from store, "
            f"{len(requests) - len(to_send) - n_hits} duplicates"
        )
        if n_hits:
            hits = [i for i, k in enumerate(keys) if k in stored]
            progress.advance(n_hits, from_store=True,
                             problems=sum(problems([i], results[i]) for i in hits))  # type: ignore[arg-type]
        stats: Counter[str] = Counter()
        writes = BatchedWrites(self.store, progress.log)
        # Claims: another worker sending one of these calls right now is waited for, not paid twice.
        claims = BatchClaims(self.store, self._claim_ttl_s)
        try:
            clients = self._clients_for({self.config.model(requests[i].model).provider for i in to_send})
            # Claim a call only when it is about to be sent: at most twice a provider's max_concurrency
            # at a time (the calls in flight and the next wave, so that a call waiting in the limiter
            # for its retry does not hold back the next call's claim).
            slots = {p: asyncio.Semaphore(2 * self.config.providers[p].max_concurrency) for p in clients}

            async def send(i: int, provider: str) -> LLMResult:
                res = await call_with_retries(self.config, requests[i], keys[i], clients[provider],
                                              self._limiters[provider], stats, self._rng, self._redact,
                                              self._clock)
                if res.ok:
                    claims.settled(keys[i])
                else:
                    await claims.release(keys[i])
                return res

            async def obtain(i: int, provider: str) -> LLMResult:
                """Send the call, or read it from the store when another worker paid for it meanwhile."""
                async with slots[provider]:
                    got = await claims.claim(keys[i])
                    if got is Claim.WON:
                        return await send(i, provider)
                if got is Claim.HELD:  # another worker is sending it: wait outside the slot
                    got = await claims.wait(keys[i])
                    if got is None:  # it gave up or died: ours now
                        async with slots[provider]:
                            return await send(i, provider)
                return stored_result(self.config, requests[i], keys[i], got)

            async def one(i: int) -> None:
                await finish(i, await obtain(i, self.config.model(requests[i].model).provider))

            async def finish(i: int, res: LLMResult) -> None:
                if res.ok and not res.from_store and res.mode == "sync":  # batch answers are stored by batch.py
                    writes.add(keys[i], requests[i].model, materials[i], response_record(res))
                results[i] = res
                if not res.ok:
                    stats["errors"] += 1
                    if stats["errors"] <= _MAX_ERRORS_LOGGED:
                        progress.log(
                            f"{desc}: {res.model} call {res.call_key[:12]} failed after {res.attempts} "
                            f"attempt(s): {res.error_type}: {res.error_message}"
                        )
                progress.advance(1 + len(followers.get(i, ())), error=not res.ok,
                                 problems=problems([i, *followers.get(i, ())], res))

            batched = [i for i in to_send if self.config.mode_of(requests[i].model) == "batch"]
            sender = BatchSender(self.config, self.store, lambda name: self._clients_for({name})[name], self._clock,
                                 progress.log, self._redact, desc)
            jobs = [BatchJob(i, requests[i], keys[i], materials[i]) for i in batched]
            in_batch = set(batched)
            await asyncio.gather(*(one(i) for i in to_send if i not in in_batch),
                                 sender.run(jobs, lambda j, res: finish(j.index, res), claims))
        finally:
            progress.close()
            try:
                writes.flush(final=True)  # raises if the store cannot be written: results would be lost
            finally:
                await claims.close()
        if to_send:
            progress.log(
                f"{desc}: sent {len(to_send) - claims.waited} calls ({stats['attempts']} attempts, "
                f"{stats['retries']} retries), {stats['errors']} failed"
                + (f"; {claims.waited} answered by another worker" if claims.waited else "")
                + (f", {progress.problems} {progress.problems_label}" if check else "")
            )
        for lead, idxs in followers.items():
            lead_res = results[lead]
            assert lead_res is not None
            for i in idxs:
                results[i] = lead_res.model_copy(update={"tags": dict(requests[i].tags)})
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def limits_line(self) -> str:
        """Providers whose adaptive concurrency limit is below max_concurrency (after 429s), e.g.
        "concurrency 4/16 (openai)"; "" when every provider runs at its maximum."""
        low = [f"{lim.limit}/{lim.max_concurrency} ({name})" for name, lim in sorted(self._limiters.items())
               if lim.limit < lim.max_concurrency]
        return "concurrency " + ", ".join(low) if low else ""

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
