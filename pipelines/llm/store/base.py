"""The one call-store interface, implemented by SQLite (`sqlite.py`) and PostgreSQL (`postgres.py`).

Semantics shared by both backends:

* **Content-addressed.** A row is keyed by its call key (`keys.py`); the first writer of a key
  wins and later writes of the same key are ignored. Only successful calls are stored.
* **Rejections.** `reject` moves an unusable reply (e.g. judge JSON that failed parsing) to
  `rejected_calls`, so the next run asks again.
* **Provider batches.** `record_batch` keeps a submitted batch id with its call keys; it stays
  open (`open_batches`) until `finish_batch`, so a killed run polls it again instead of paying twice.
* **Claims on in-flight calls.** Before sending, a caller `claim`s the keys it is about to pay
  for. A key already answered comes back in `done`; a key someone else holds comes back in `held`
  (wait for it: poll `get_many`, then `claim` again); the rest are `won`. `claim` looks for an
  answer before it looks at claims, so a key answered meanwhile is `done`, never won again; storing
  the answer (`put_many`) also drops the claim on its key. A claim lasts `ttl_s` unless its owner `renew`s it; an
  owner that died stops renewing, and after `ttl_s` any waiter may take the key over. A failed
  call is `release`d so a waiter can try it itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pipelines.llm.store.keys import StoredCall, canonical_json

Row = tuple[str, str, dict[str, Any], dict[str, Any]]  # key, model name, key material, response record


@dataclass
class ClaimResult:
    won: set[str] = field(default_factory=set)  # this owner holds them now: send
    done: set[str] = field(default_factory=set)  # already answered: read them from the store
    held: set[str] = field(default_factory=set)  # another live owner holds them: wait


@dataclass(frozen=True)
class BatchRecord:
    """A provider batch (mode: batch) submitted for these call keys; status open until its results are in."""

    batch_id: str
    provider: str  # provider name in models.yaml
    model: str  # model name in models.yaml
    status: str  # open, else the provider's final status (completed, ended, failed, expired...) or lost
    submitted_at: str
    finished_at: str | None
    keys: list[str]


def row_values(row: Row) -> tuple[Any, ...]:
    """(key, model, model_id, provider_kind, request_json, response_json, in, out, cached, cache_write) of one row."""
    key, model, request, response = row
    usage = response.get("usage", {})
    return (
        key, model, str(request.get("model_id", "")), str(request.get("provider", {}).get("kind", "")),
        canonical_json(request), canonical_json(response),
        int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)), int(usage.get("cached_tokens", 0)),
        int(usage.get("cache_write_tokens", 0)),
    )


class CallStoreBase(ABC):
    """What the runner, the estimate and the tests need from a call store, whatever the backend."""

    #: where the store lives, safe to print (no password)
    url: str

    # -- reads ---------------------------------------------------------------------------
    @abstractmethod
    def get_many(self, keys: Iterable[str]) -> dict[str, StoredCall]: ...

    def get(self, key: str) -> StoredCall | None:
        return self.get_many([key]).get(key)

    @abstractmethod
    def contains_many(self, keys: Iterable[str]) -> set[str]: ...

    @abstractmethod
    def __iter__(self) -> Iterator[StoredCall]: ...

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def per_model(self) -> dict[str, dict[str, int]]:
        """{model: {calls, input_tokens, output_tokens, cached_tokens, cache_write_tokens}}."""

    def stats(self) -> dict[str, Any]:
        """Row count and token totals overall and per model name."""
        per_model = self.per_model()
        return {
            "path": self.url,
            "calls": sum(v["calls"] for v in per_model.values()),
            "input_tokens": sum(v["input_tokens"] for v in per_model.values()),
            "output_tokens": sum(v["output_tokens"] for v in per_model.values()),
            "per_model": per_model,
        }

    # -- writes --------------------------------------------------------------------------
    @abstractmethod
    def put_many(self, rows: Iterable[Row]) -> int:
        """Store several calls in one transaction (and drop their claims); returns how many keys were new."""

    def put(self, key: str, model: str, request: dict[str, Any], response: dict[str, Any]) -> bool:
        """Store one successful call; returns False if the key was already there (first wins)."""
        return self.put_many([(key, model, request, response)]) == 1

    @abstractmethod
    def reject(self, rejections: Iterable[tuple[str, str]]) -> int:
        """Move calls whose reply was unusable out of the store, into `rejected_calls`; returns how many."""

    @abstractmethod
    def rejected(self) -> list[dict[str, Any]]:
        """The rejected replies, oldest first: call_key, model, reason, rejected_at."""

    # -- claims --------------------------------------------------------------------------
    @abstractmethod
    def claim(self, keys: Iterable[str], owner: str, ttl_s: float) -> ClaimResult: ...

    @abstractmethod
    def renew(self, owner: str, ttl_s: float) -> int:
        """Extend every claim `owner` still holds by `ttl_s` from now; returns how many."""

    @abstractmethod
    def release(self, owner: str, keys: Iterable[str] | None = None) -> int:
        """Drop `owner`'s claims on `keys` (all of them when None); returns how many."""

    # -- provider batches (mode: batch) ---------------------------------------------------
    @abstractmethod
    def record_batch(self, batch_id: str, provider: str, model: str, calls: dict[str, dict[str, Any]]) -> None:
        """Record a submitted batch and the calls it covers ({key: key material}), before anyone polls it."""

    @abstractmethod
    def batch_materials(self, batch_id: str) -> dict[str, dict[str, Any]]:
        """{call key: key material} of a recorded batch (its answers are stored with them)."""

    @abstractmethod
    def open_batches(self, keys: Iterable[str]) -> list[BatchRecord]:
        """Batches still open that cover any of `keys` (a rerun polls them instead of resubmitting)."""

    @abstractmethod
    def finish_batch(self, batch_id: str, status: str) -> None:
        """Close a batch: its results are stored (or it failed); it is never polled again."""

    @abstractmethod
    def batches(self) -> list[BatchRecord]:
        """Every recorded batch, oldest first."""

    # -- lifecycle -----------------------------------------------------------------------
    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> CallStoreBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
