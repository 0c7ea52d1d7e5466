"""One batch's claims on the calls it is about to pay for (the protocol is in `store/base.py`).

Two workers that ask for the same call at once pay once: the first claims it and sends it; the
second waits until the answer is in the store and reads it from there. The holder renews its
claims while it works (every `ttl_s / 3`), so a slow call is never taken over; a holder that died
stops renewing, and `ttl_s` later a waiter takes the key over and sends it itself. A failed call
is released at once, so a waiter tries it without waiting for the expiry.

Runs on the runner's event loop; store calls are short single statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Iterable

from pipelines.llm.store import CallStoreBase, StoredCall

DEFAULT_TTL_S = 60.0


def new_owner() -> str:
    """Who holds a claim, for people reading the claims table: host, pid and a unique suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class BatchClaims:
    def __init__(self, store: CallStoreBase, ttl_s: float = DEFAULT_TTL_S, poll_s: tuple[float, float] = (0.05, 1.0)) -> None:
        self.store, self.ttl_s = store, ttl_s
        self.owner = new_owner()
        self._poll_min, self._poll_max = poll_s
        self._held: set[str] = set()
        self._done: set[str] = set()
        self._waiting: dict[str, asyncio.Future[StoredCall | None]] = {}
        self._poller: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self.waited = 0  # keys this batch got from another worker's call (for the log)
        self._ever_held = False

    def start(self, keys: Iterable[str]) -> None:
        """Claim every key the batch would send, in one statement."""
        r = self.store.claim(keys, self.owner, self.ttl_s)
        self._take(r.won)
        self._done |= r.done
        for k in r.held:
            self._waiting[k] = asyncio.get_running_loop().create_future()
        if self._waiting:
            self._poller = asyncio.create_task(self._poll())
        self._heartbeat = asyncio.create_task(self._renew())

    async def acquire(self, key: str) -> StoredCall | None:
        """None: this batch holds the claim, send the call. A StoredCall: someone else's answer."""
        while True:
            if key in self._held:
                return None
            if key in self._done:
                self._done.discard(key)
                stored = self.store.get(key)
                if stored is not None:
                    self.waited += 1
                    return stored
                # answered then rejected meanwhile: claim it again like any other key
                self._claim_again([key])
                continue
            fut = self._waiting.get(key)
            if fut is None:
                self._claim_again([key])
                continue
            stored = await asyncio.shield(fut)
            if stored is not None:
                self.waited += 1
                return stored

    def settled(self, key: str) -> None:
        """The answer is on its way to the store, whose write drops the claim: stop renewing it."""
        self._held.discard(key)

    def release(self, key: str) -> None:
        """The call failed: let a waiter elsewhere try it now rather than after the expiry."""
        if key in self._held:
            self._held.discard(key)
            self.store.release(self.owner, [key])

    async def close(self) -> None:
        for task in (self._poller, self._heartbeat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for fut in self._waiting.values():
            fut.cancel()
        # Whatever this batch still holds (cancelled, interrupted, or a final write that failed)
        # is free for others again.
        if self._ever_held:
            self._held.clear()
            self.store.release(self.owner)

    # -- internals -------------------------------------------------------------------------
    def _take(self, keys: set[str]) -> None:
        self._held |= keys
        self._ever_held = self._ever_held or bool(keys)

    def _claim_again(self, keys: list[str]) -> None:
        r = self.store.claim(keys, self.owner, self.ttl_s)
        self._take(r.won)
        self._done |= r.done
        loop = asyncio.get_running_loop()
        for k in r.held:
            self._waiting.setdefault(k, loop.create_future())
        if self._waiting and (self._poller is None or self._poller.done()):
            self._poller = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        delay = self._poll_min
        while self._waiting:
            await asyncio.sleep(delay)
            delay = min(self._poll_max, delay * 1.5)
            try:
                self._poll_once()
            except Exception:  # noqa: BLE001 - a store hiccup must not strand the waiters: poll again
                continue

    def _poll_once(self) -> None:
        keys = [k for k, f in self._waiting.items() if not f.done()]
        found = self.store.get_many(keys)
        rest = [k for k in keys if k not in found]
        r = self.store.claim(rest, self.owner, self.ttl_s) if rest else None
        if r is not None:
            self._take(r.won)
            found.update(self.store.get_many(r.done))
        for k in keys:
            if k in found:
                self._waiting.pop(k).set_result(found[k])
            elif r is not None and k not in r.held:
                # Taken over (now in _held: the caller sends it), or answered then rejected at
                # once (acquire claims it again).
                self._waiting.pop(k).set_result(None)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            if self._held:
                with contextlib.suppress(Exception):  # missed once: the next beat is still before expiry
                    self.store.renew(self.owner, self.ttl_s)
