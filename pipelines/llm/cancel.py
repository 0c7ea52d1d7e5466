"""Process-wide stop switch for LLM calls (Ctrl-C, SIGTERM): once set, no runner sends a new request.

Two steps, so that a caller can record the cancellation (e.g. mark the Dagster run CANCELING)
between them without a call slipping out in the meantime:

* :func:`stop_admitting` - instant, from any thread: every call about to be sent (first attempt or
  retry) parks instead. Calls already on the wire keep waiting for their reply.
* :func:`cancel_batches` - cancel every running batch: parked and in-flight calls end, finished
  calls are already in the store, and the batch raises :class:`LLMCancelled` to its caller.

:func:`cancel` does both. The switch stays set for the life of the process (a CLI run ends);
:func:`reset` clears it (tests that cancel in-process).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class LLMCancelled(Exception):
    """A batch was stopped by a cancel request; calls that finished before it are in the store."""


_stop = threading.Event()
_cancelled = False  # cancel_batches ran: a batch that starts later raises at once instead of parking
_lock = threading.Lock()
_batches: dict[asyncio.Task, asyncio.AbstractEventLoop] = {}


def stop_admitting() -> None:
    _stop.set()


def stopping() -> bool:
    return _stop.is_set()


def cancel_batches() -> None:
    global _cancelled
    with _lock:
        _cancelled = True
        running = list(_batches.items())
    for task, loop in running:
        loop.call_soon_threadsafe(task.cancel)


def cancel() -> None:
    stop_admitting()
    cancel_batches()


def reset() -> None:
    global _cancelled
    with _lock:
        _cancelled = False
        _stop.clear()


@contextmanager
def batch() -> Iterator[None]:
    """Register the running task as a batch that :func:`cancel_batches` must reach."""
    task = asyncio.current_task()
    assert task is not None, "batch() needs a running task"
    with _lock:
        _batches[task] = asyncio.get_running_loop()
    try:
        yield
    finally:
        with _lock:
            _batches.pop(task, None)


async def checkpoint() -> None:
    """Call right before sending: returns at once unless stopping; then waits to be cancelled."""
    if not _stop.is_set():
        return
    with _lock:
        cancelled = _cancelled
    if cancelled:
        raise LLMCancelled("LLM calls stopped by a cancel request")
    # Park: cancel_batches (or the runner closing its loop) cancels this batch.
    await asyncio.get_running_loop().create_future()
