"""What the call store keeps of a successful call, and the small write transactions that put it there."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pipelines.llm.store import CallStoreBase
from pipelines.llm.types import LLMResult


def response_record(r: LLMResult) -> dict[str, Any]:
    """What the store keeps of a successful call (everything needed to rebuild the result)."""
    return {
        "text": r.text,
        "model_reported": r.model_reported,
        "finish_reason": r.finish_reason,
        "usage": {"input_tokens": r.input_tokens, "output_tokens": r.output_tokens, "cached_tokens": r.cached_tokens,
                  "cache_write_tokens": r.cache_write_tokens},
        "latency_s": round(r.latency_s, 4),
    }


class BatchedWrites:
    """Store successes in small transactions instead of one commit per call.

    A commit per call costs more CPU on the event loop than the rest of our per-call work; rows
    wait at most ``flush_s`` (or until ``max_rows`` are pending), so an interrupted batch loses
    at most that much, and everything is flushed before ``arun`` returns.
    """

    def __init__(
        self, store: CallStoreBase, log: Callable[[str], None], flush_s: float = 0.05, max_rows: int = 256
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
