"""One batch's claims on the calls it is sending (the protocol is in `store/base.py`).

Two workers that ask for the same call at once pay once: the first claims it and sends it; the
second waits until the answer is in the store and reads it from there.

* A call is claimed when it is about to be sent (the runner claims at most twice a provider's
  max_concurrency at a time), so a claim marks a call in flight, not one queued far behind
  others: two workers handed the same partitions share the work instead of one claiming it all.
* Claims requested in the same event-loop tick go to the store in one statement, on a worker
  thread, so the loop never blocks on the database.
* The holder renews its claims while it works (every `ttl_s / 3`), so a slow call is never taken
  over; a holder that died stops renewing, and `ttl_s` later a waiter takes the call over and
  sends it itself. A failed call is released at once, so a waiter tries it without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from enum import Enum

from pipelines.llm.store import CallStoreBase, StoredCall

DEFAULT_TTL_S = 60.0


class Claim(Enum):
    WON = "won"  # this batch holds it: send the call
    HELD = "held"  # another live worker is sending it: `wait` for its answer


def new_owner() -> str:
    """Who holds a claim, for people reading the claims table: host, pid and a unique suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class BatchClaims:
    def __init__(self, store: CallStoreBase, ttl_s: float = DEFAULT_TTL_S,
                 poll_s: tuple[float, float] = (0.05, 1.0)) -> None:
        self.store, self.ttl_s = store, ttl_s
        self.owner = new_owner()
        self._poll_min, self._poll_max = poll_s
        self._held: set[str] = set()
        self._ever_held = False
        self._pending: dict[str, asyncio.Future[Claim | StoredCall]] = {}
        self._flush: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[StoredCall | None]] = {}
        self._poller: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self.waited = 0  # calls this batch got from another worker's send (for the log)

    async def claim(self, key: str) -> Claim | StoredCall:
        """WON: send it. HELD: another worker is sending it. A StoredCall: answered already."""
        fut = asyncio.get_running_loop().create_future()
        self._pending[key] = fut
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._claim_pending())
        out = await fut
        if isinstance(out, StoredCall):
            self.waited += 1
        return out

    async def wait(self, key: str) -> StoredCall | None:
        """For a HELD call: its answer once stored, or None when it became this batch's to send."""
        while True:
            fut = self._waiting.get(key)
            if fut is None:
                fut = self._waiting[key] = asyncio.get_running_loop().create_future()
            if self._poller is None or self._poller.done():
                self._poller = asyncio.create_task(self._poll())
            stored = await asyncio.shield(fut)
            if stored is not None:
                self.waited += 1
                return stored
            if key in self._held:
                return None
            # Answered and then rejected in between: ask for it like a new call.
            got = await self.claim(key)
            if got is Claim.WON:
                return None
            if isinstance(got, StoredCall):
                return got

    def settled(self, key: str) -> None:
        """The answer is on its way to the store, whose write drops the claim: stop renewing it."""
        self._held.discard(key)

    async def release(self, key: str) -> None:
        """The call failed: let a waiter elsewhere try it now rather than after the expiry."""
        if key in self._held:
            self._held.discard(key)
            await asyncio.to_thread(self.store.release, self.owner, [key])

    async def close(self) -> None:
        for task in (self._flush, self._poller, self._heartbeat):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for fut in [*self._pending.values(), *self._waiting.values()]:
            fut.cancel()
        # Whatever this batch still holds (cancelled, interrupted, or a final write that failed)
        # is free for others again.
        if self._ever_held:
            self._held.clear()
            await asyncio.to_thread(self.store.release, self.owner)

    # -- internals -------------------------------------------------------------------------
    def _take(self, keys: set[str]) -> None:
        self._held |= keys
        if keys:
            self._ever_held = True
            if self._heartbeat is None:
                self._heartbeat = asyncio.create_task(self._renew())

    async def _claim_pending(self) -> None:
        await asyncio.sleep(0)  # let every call entering its slot in this tick join the statement
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                r = await asyncio.to_thread(self.store.claim, list(batch), self.owner, self.ttl_s)
                stored = await asyncio.to_thread(self.store.get_many, r.done) if r.done else {}
            except Exception as exc:  # noqa: BLE001 - the callers see the store's error
                for fut in batch.values():
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self._take(r.won)
            for key, fut in batch.items():
                if fut.done():
                    continue
                if key in r.won:
                    fut.set_result(Claim.WON)
                elif key in stored:
                    fut.set_result(stored[key])
                else:  # held elsewhere, or answered then rejected at once: wait and look again
                    fut.set_result(Claim.HELD)

    async def _poll(self) -> None:
        delay = self._poll_min
        while keys := [k for k, f in self._waiting.items() if not f.done()]:
            await asyncio.sleep(delay)
            delay = min(self._poll_max, delay * 1.5)
            try:
                found, won, held = await asyncio.to_thread(self._look, keys)
            except Exception:  # noqa: BLE001 - a store hiccup must not strand the waiters: poll again
                continue
            if self._resolve(keys, found, won, held):
                delay = self._poll_min

    def _look(self, keys: list[str]) -> tuple[dict[str, StoredCall], set[str], set[str]]:
        """Store side of one poll (on a worker thread): answers found, keys won, keys still held."""
        found = self.store.get_many(keys)
        rest = [k for k in keys if k not in found]
        if not rest:
            return found, set(), set()
        r = self.store.claim(rest, self.owner, self.ttl_s)
        if r.done:
            found.update(self.store.get_many(r.done))
        return found, r.won, r.held

    def _resolve(self, keys: list[str], found: dict[str, StoredCall], won: set[str], held: set[str]) -> bool:
        self._take(won)
        resolved = False
        for k in keys:
            fut = self._waiting.get(k)
            if fut is None or fut.done() or (k in held and k not in found):
                continue
            # An answer; or taken over (now in _held); or answered then rejected: wait() decides.
            self._waiting.pop(k).set_result(found.get(k))
            resolved = True
        return resolved

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            if self._held:
                with contextlib.suppress(Exception):  # missed once: the next beat is still before expiry
                    await asyncio.to_thread(self.store.renew, self.owner, self.ttl_s)
