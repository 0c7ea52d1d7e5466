"""Batch mode (``mode: batch``): calls sent through the provider's batch API instead of one request each.

* OpenAI: a JSONL of ``/v1/chat/completions`` requests (``custom_id`` = call key) uploaded with the
  Files API, ``batches.create``, ``batches.retrieve`` until done, then the output and error files.
  Anthropic: ``messages.batches.create`` (``custom_id`` = call key), ``retrieve``, ``results()``.
  The request bodies are exactly those of the synchronous path (clients.py builds both).
* A submitted batch is recorded in the call store with the keys (and key material) it covers
  *before* it is polled; a later run that wants any of those keys polls that batch instead of
  submitting them again, and stores every answer the batch holds. Its results are stored before
  the batch is closed, so a kill at any point loses nothing that was paid for.
* Per-item errors, expired and cancelled items come back as per-call failures and are retried in
  a later batch under the provider's retry rules (``max_retries``; other 4xx are final), never
  dropped and never a verdict.
* Polling waits ``batch_poll_s`` on the runner's clock (virtual in tests). A cancel (Ctrl-C) stops
  polling at once; the batch stays recorded for the next run. A failed poll or result download is
  retried (``max_retries`` in a row); a batch the provider answers 404 for is closed as ``lost`` and
  its calls resubmitted; any other refusal fails the calls and leaves the batch for the next run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import openai

from pipelines.llm import cancel
from pipelines.llm.attempt import failed_result, stored_result, succeeded_result
from pipelines.llm.claims import BatchClaims, Claim
from pipelines.llm.clients import (
    ChatClient,
    Completion,
    anthropic_completion,
    anthropic_kwargs,
    openai_completion,
    openai_kwargs,
)
from pipelines.llm.clock import Clock
from pipelines.llm.config import ModelsConfig
from pipelines.llm.retry import RETRYABLE_STATUS, Failure, classify
from pipelines.llm.store import BatchRecord, CallStoreBase, StoredCall
from pipelines.llm.types import LLMRequest, LLMResult
from pipelines.llm.writes import response_record

ENDPOINT = "/v1/chat/completions"
WINDOW = "24h"  # the only completion window both providers offer
_ENDED_OPENAI = {"completed", "failed", "expired", "cancelled"}
# Half the smaller provider cap (OpenAI 200 MB per batch file, Anthropic 256 MB per batch): room for the
# request envelope around each prompt.
MAX_BATCH_BYTES = 100_000_000


@dataclass
class BatchJob:
    """One batch call: the request, its key and key material, and where its result goes (an index)."""

    index: int
    request: LLMRequest
    key: str
    material: dict[str, Any]
    batches: int = 0  # batches this call was submitted in during this run


@dataclass
class _Outcome:
    completions: dict[str, Completion] = field(default_factory=dict)
    failures: dict[str, Failure] = field(default_factory=dict)


def _chunks(jobs: list[BatchJob], max_requests: int, max_bytes: int) -> list[list[BatchJob]]:
    """Consecutive runs of jobs within both limits (a request's size estimated from its key material)."""
    out: list[list[BatchJob]] = []
    size = 0
    for j in jobs:
        n = len(json.dumps(j.material, ensure_ascii=False).encode("utf-8"))
        if not out or len(out[-1]) >= max_requests or size + n > max_bytes:
            out.append([])
            size = 0
        out[-1].append(j)
        size += n
    return out


def _item_failure(status: int | None, message: str) -> Failure:
    retryable = status is None or status in RETRYABLE_STATUS or status >= 500
    return Failure("BatchItemError", f"HTTP {status}: {message}" if status else message, retryable, None, status)


def _prefill_of(material: dict[str, Any]) -> str:
    """The Anthropic assistant prefill a stored request was sent with (clients.anthropic_structured)."""
    prefilled = material.get("params", {}).get("structured_output") == "prefill"
    return "{" if prefilled and material.get("response_format") == "json" else ""


class BatchSender:
    """Runs the batch-mode calls of one runner batch (see the module docstring)."""

    def __init__(self, config: ModelsConfig, store: CallStoreBase, client: Callable[[str], ChatClient], clock: Clock,
                 log: Callable[[str], None], redact: Callable[[str | None], str | None], desc: str) -> None:
        self.config, self.store, self.client, self.clock = config, store, client, clock
        self.log, self.redact, self.desc = log, redact, desc

    # -- entry point -----------------------------------------------------------------------
    async def run(self, jobs: Sequence[BatchJob], done: Callable[[BatchJob, LLMResult], Awaitable[None]],
                  claims: BatchClaims | None = None) -> None:
        """Answer every job through ``done`` (stored already when ok): calls of a recorded open batch by
        polling it (no claim needed: polling is free and storing is first-writer-wins), the rest in new
        batches, under ``claims`` when given (another worker's call is waited for, not sent twice)."""
        by_key = {j.key: j for j in jobs}
        resumed = await asyncio.to_thread(self.store.open_batches, list(by_key)) if by_key else []
        waits = []
        for rec in resumed:
            mine = [by_key.pop(k) for k in rec.keys if k in by_key]
            self.log(f"{self.desc}: resuming batch {rec.batch_id} ({len(rec.keys)} calls, submitted "
                     f"{rec.submitted_at}); {len(mine)} of them asked now, none sent again")
            waits.append(self._follow(rec, mine, done))
        rest = list(by_key.values())
        waits.append(self._submit_all(rest, done) if claims is None else _claimed(self, rest, claims, done))
        await asyncio.gather(*waits)

    async def _submit_all(self, jobs: list[BatchJob], done: Callable[[BatchJob, LLMResult], Awaitable[None]]) -> None:
        groups: dict[str, list[BatchJob]] = {}
        for j in jobs:
            groups.setdefault(j.request.model, []).append(j)
        tasks = []
        for model, group in groups.items():
            size = self.config.provider_of(model).batch_max_requests
            tasks += [self._submit_and_follow(model, chunk, done) for chunk in _chunks(group, size, MAX_BATCH_BYTES)]
        await asyncio.gather(*tasks)

    async def _submit_and_follow(self, model: str, jobs: list[BatchJob],
                                 done: Callable[[BatchJob, LLMResult], Awaitable[None]]) -> None:
        provider_name = self.config.model(model).provider
        try:
            batch_id = await self._submit(provider_name, model, jobs)
        except cancel.LLMCancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - classified: the calls fail (or retry) like any call
            f = classify(exc)
            self.log(f"{self.desc}: submitting a batch of {len(jobs)} calls failed: {f.error_type}: "
                     f"{self.redact(f.message)}")
            provider = self.config.providers[provider_name]
            if f.retryable:  # the batch API itself is failing: back off before the next submission
                await self.clock.sleep(min(provider.backoff_max_s, provider.backoff_base_s * 2 ** jobs[0].batches))
            await self._settle(jobs, _Outcome(failures={j.key: f for j in jobs}), done, batch_id=None)
            return
        rec = BatchRecord(batch_id, provider_name, model, "open", "", None, [j.key for j in jobs])
        await self._follow(rec, jobs, done)

    # -- submit ----------------------------------------------------------------------------
    async def _submit(self, provider_name: str, model_name: str, jobs: list[BatchJob]) -> str:
        await cancel.checkpoint()  # after a Ctrl-C no new batch leaves
        model = self.config.model(model_name)
        provider = self.config.providers[provider_name]
        sdk = self.client(provider_name).sdk  # type: ignore[attr-defined]
        for j in jobs:
            j.batches += 1
        if provider.wire == "openai":
            lines = []
            for j in jobs:
                kw = openai_kwargs(model, j.request)
                body = {**{k: v for k, v in kw.items() if k != "extra_body"}, **kw.get("extra_body", {})}
                lines.append(json.dumps({"custom_id": j.key, "method": "POST", "url": ENDPOINT, "body": body},
                                        ensure_ascii=False))
            data = ("\n".join(lines) + "\n").encode("utf-8")
            f = await sdk.files.create(file=("batch.jsonl", data, "application/jsonl"), purpose="batch")
            batch = await sdk.batches.create(input_file_id=f.id, endpoint=ENDPOINT, completion_window=WINDOW,
                                             metadata={"xpertbench": self.desc[:500]})
        else:
            requests = []
            for j in jobs:
                kw, _prefill = anthropic_kwargs(model, j.request)
                params = {**{k: v for k, v in kw.items() if k != "extra_body"}, **kw.get("extra_body", {})}
                requests.append({"custom_id": j.key, "params": params})
            batch = await sdk.messages.batches.create(requests=requests)
        # Recorded before the first poll: a run killed from here on resumes this batch.
        await asyncio.to_thread(self.store.record_batch, batch.id, provider_name, model_name,
                                {j.key: j.material for j in jobs})
        self.log(f"{self.desc}: submitted batch {batch.id} to {provider_name} ({len(jobs)} calls, {model_name})")
        return str(batch.id)

    # -- poll and collect ------------------------------------------------------------------
    async def _follow(self, rec: BatchRecord, jobs: list[BatchJob],
                      done: Callable[[BatchJob, LLMResult], Awaitable[None]]) -> None:
        if rec.provider not in self.config.providers:  # renamed since: never resubmit what it may have paid
            gone = Failure("BatchProviderGone", f"batch {rec.batch_id} was sent through provider {rec.provider!r}, "
                           "which models.yaml no longer names; restore it to collect the batch", False)
            await self._settle(jobs, _Outcome(failures={j.key: gone for j in jobs}), done, rec.batch_id)
            return
        provider = self.config.providers[rec.provider]
        sdk = self.client(rec.provider).sdk  # type: ignore[attr-defined]
        started = self.clock.now()
        errors = 0
        last = ""
        while True:
            await cancel.checkpoint()
            try:
                status, counts, ended = await self._retrieve(sdk, provider.wire, rec.batch_id)
                line = (f"{self.desc}: batch {rec.batch_id} {status}: {counts[0]} completed, {counts[1]} failed, "
                        f"{counts[2]} total")
                if line != last:
                    self.log(line)
                    last = line
                outcome = await self._results(sdk, provider.wire, rec, status) if ended else None
                errors = 0
            except Exception as exc:  # noqa: BLE001 - a failed poll or download is retried
                f = classify(exc)
                errors += 1
                self.log(f"{self.desc}: polling batch {rec.batch_id} failed: {f.error_type}: {self.redact(f.message)}")
                if f.status == 404:  # the provider does not know it (deleted, another account): ask again
                    await asyncio.to_thread(self.store.finish_batch, rec.batch_id, "lost")
                    lost = Failure("BatchLost", f"batch {rec.batch_id}: {f.message}", True)
                    await self._settle(jobs, _Outcome(failures={j.key: lost for j in jobs}), done, rec.batch_id)
                    return
                if not f.retryable or errors > provider.max_retries:  # e.g. a revoked key: fix it, rerun
                    gone = Failure("BatchPollFailed", f"batch {rec.batch_id} could not be polled: {f.message}; "
                                   "it stays recorded and the next run resumes it", False)
                    await self._settle(jobs, _Outcome(failures={j.key: gone for j in jobs}), done, rec.batch_id)
                    return
                outcome = None
            if outcome is not None:
                break
            await self.clock.sleep(provider.batch_poll_s)
        # Every answer the batch holds is stored, asked now or not (it was paid for), then the batch closes.
        materials = await asyncio.to_thread(self._materials, rec)
        elapsed = self.clock.now() - started
        rows = [(key, rec.model, materials[key], {**response_record(self._as_result(rec.model, key, c, elapsed)),
                                                  "mode": "batch", "batch_id": rec.batch_id})
                for key, c in outcome.completions.items() if key in materials]
        await asyncio.to_thread(self.store.put_many, rows)
        await asyncio.to_thread(self.store.finish_batch, rec.batch_id, status)
        await self._settle(jobs, outcome, done, rec.batch_id, elapsed=elapsed)

    def _materials(self, rec: BatchRecord) -> dict[str, dict[str, Any]]:
        return self.store.batch_materials(rec.batch_id)

    def _as_result(self, model: str, key: str, c: Completion, latency_s: float) -> LLMResult:
        """The result a synchronous call with this completion gives (succeeded_result: one place for every
        usage field), for a key of the batch whether or not this run asked for it."""
        stub = LLMRequest.model_construct(model=model, tags={})  # succeeded_result reads only model and tags
        return succeeded_result(self.config, stub, key, 1, c, batch=True).model_copy(update={"latency_s": latency_s,
                                                                                  "mode": "batch"})

    async def _retrieve(self, sdk: Any, wire: str, batch_id: str) -> tuple[str, tuple[int, int, int], bool]:
        """(status, (completed, failed, total), ended) of one poll."""
        if wire == "openai":
            b = await sdk.batches.retrieve(batch_id)
            rc = b.request_counts
            counts = (rc.completed, rc.failed, rc.total) if rc else (0, 0, 0)
            return b.status, counts, b.status in _ENDED_OPENAI
        b = await sdk.messages.batches.retrieve(batch_id)
        n = b.request_counts
        total = n.processing + n.succeeded + n.errored + n.canceled + n.expired
        return b.processing_status, (n.succeeded, n.errored + n.canceled + n.expired, total), \
            b.processing_status == "ended"

    async def _results(self, sdk: Any, wire: str, rec: BatchRecord, status: str) -> _Outcome:
        out = _Outcome()
        materials = await asyncio.to_thread(self._materials, rec)
        if wire == "openai":
            b = await sdk.batches.retrieve(rec.batch_id)
            for file_id in (b.output_file_id, b.error_file_id):
                if not file_id:
                    continue
                content = await sdk.files.content(file_id)
                for raw in content.text.splitlines():
                    if raw.strip():
                        self._openai_line(json.loads(raw), out)
            if status == "failed":
                why = "; ".join(e.message or "" for e in (b.errors.data or [])) if b.errors else ""
                for key in rec.keys:
                    out.failures.setdefault(key, Failure("BatchFailed", f"batch {rec.batch_id} failed: {why}", False))
        else:
            async for item in await sdk.messages.batches.results(rec.batch_id):
                self._anthropic_item(item, _prefill_of(materials.get(item.custom_id, {})), out)
        for key in rec.keys:  # an item the provider never answered is retried, never dropped
            if key not in out.completions and key not in out.failures:
                out.failures[key] = Failure("BatchItemMissing", f"batch {rec.batch_id} ({status}) has no result", True)
        return out

    def _openai_line(self, line: dict[str, Any], out: _Outcome) -> None:
        key = line.get("custom_id", "")
        resp = line.get("response") or {}
        err = line.get("error")
        if resp.get("status_code") == 200 and not err:
            try:
                out.completions[key] = openai_completion(openai.types.chat.ChatCompletion.model_validate(resp["body"]), 0.0)
            except Exception as exc:  # noqa: BLE001 - empty content, malformed body: the usual rules
                out.failures[key] = classify(exc)
            return
        if err:  # expired / cancelled items: no response; retried in a later batch
            out.failures[key] = Failure("BatchItemError", f"{err.get('code')}: {err.get('message')}", True)
            return
        body = resp.get("body") or {}
        msg = (body.get("error") or {}).get("message", "") if isinstance(body, dict) else str(body)
        out.failures[key] = _item_failure(resp.get("status_code"), msg)

    def _anthropic_item(self, item: Any, prefill: str, out: _Outcome) -> None:
        key, result = item.custom_id, item.result
        if result.type == "succeeded":
            try:
                out.completions[key] = anthropic_completion(result.message, prefill, 0.0)
            except Exception as exc:  # noqa: BLE001
                out.failures[key] = classify(exc)
        elif result.type == "errored":
            err = getattr(result.error, "error", None)
            etype, msg = getattr(err, "type", "api_error"), getattr(err, "message", "")
            status = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
                      "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429,
                      "overloaded_error": 529}.get(etype, 500)
            out.failures[key] = _item_failure(status, f"{etype}: {msg}")
        else:  # expired, canceled
            out.failures[key] = Failure("BatchItemError", f"item {result.type}", True)

    # -- results back to the runner --------------------------------------------------------
    async def _settle(self, jobs: list[BatchJob], outcome: _Outcome, done: Callable[[BatchJob, LLMResult], Awaitable[None]],
                      batch_id: str | None, *, elapsed: float = 0.0) -> None:
        """Hand results to the runner; retryable failures go into a later batch while attempts remain."""
        again: list[BatchJob] = []
        for j in jobs:
            c = outcome.completions.get(j.key)
            if c is not None:
                res = succeeded_result(self.config, j.request, j.key, j.batches, c, batch=True)
                await done(j, res.model_copy(update={"latency_s": elapsed, "mode": "batch", "batch_id": batch_id,
                                                     "from_store": False}))
                continue
            f = outcome.failures[j.key]
            provider = self.config.provider_of(j.request.model)
            if f.retryable and j.batches <= provider.max_retries:
                again.append(j)
            else:
                await done(j, failed_result(j.request, j.key, j.batches, f, self.redact))
        if again:
            self.log(f"{self.desc}: {len(again)} call(s) of batch {batch_id} failed and go into a new batch "
                     f"({outcome.failures[again[0].key].error_type}: {self.redact(outcome.failures[again[0].key].message)})")
            await self._submit_all(again, done)


async def _claimed(sender: BatchSender, jobs: Sequence[BatchJob], claims: BatchClaims,
                   done: Callable[[BatchJob, LLMResult], Awaitable[None]]) -> None:
    """New batches under the runner's claims: a call another worker is sending (or polling) is waited
    for and read from the store; the calls this worker won go into its batches."""
    if not jobs:
        return
    config = sender.config

    async def settle(j: BatchJob, res: LLMResult) -> None:
        if res.ok:
            claims.settled(j.key)
        else:
            await claims.release(j.key)
        await done(j, res)

    async def wait(j: BatchJob) -> None:
        got = await claims.wait(j.key)
        if got is None:  # its holder gave up or died: ours now (resumed if it left a recorded batch)
            await sender.run([j], settle)
        else:
            await done(j, stored_result(config, j.request, j.key, got))

    got = await asyncio.gather(*(claims.claim(j.key) for j in jobs))
    for j, g in zip(jobs, got, strict=True):
        if isinstance(g, StoredCall):
            await done(j, stored_result(config, j.request, j.key, g))
    mine = [j for j, g in zip(jobs, got, strict=True) if g is Claim.WON]
    await asyncio.gather(sender._submit_all(mine, settle),
                         *(wait(j) for j, g in zip(jobs, got, strict=True) if g is Claim.HELD))
