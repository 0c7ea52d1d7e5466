"""Content-addressed store of successful LLM calls (SQLite).

Each call is keyed by :func:`call_key`: the sha256 of the canonical JSON of everything that
determines the answer (:func:`key_material`). A key found in the store is never sent again,
so reruns are free and reproducible. Only successful HTTP responses are stored; an error is
never stored as an answer. A 200 whose *content* is unusable (e.g. an invalid judge reply) is a
successful call and IS stored: the caller re-asks with ``attempt + 1``, which is a new key.

Not in the key: the API key (never stored anywhere), ``tags`` (bookkeeping), timeouts, retry
policy, prices, and the model's *config name* (two names for the same model and parameters
share answers). A stand-in without ``base_url`` uses a runner-chosen port, so its key holds
``base_url: null`` rather than the port.

Concurrency: WAL mode plus a busy timeout make concurrent writers safe across threads
(one connection per thread) and processes; the first writer of a key wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.llm.config import ModelsConfig
    from pipelines.llm.types import LLMRequest

SCHEMA_MODES = ("json_schema", "tool")  # structured_output modes that send the request's json_schema
KEY_SCHEMA = 1  # bump when key_material changes shape: old entries then simply stop matching

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_key      TEXT PRIMARY KEY,
    model         TEXT NOT NULL,
    model_id      TEXT NOT NULL,
    provider_kind TEXT NOT NULL,
    request_json  TEXT NOT NULL,
    response_json TEXT NOT NULL,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_model ON calls(model);
CREATE TABLE IF NOT EXISTS rejected_calls (
    call_key      TEXT NOT NULL,
    model         TEXT NOT NULL,
    request_json  TEXT NOT NULL,
    response_json TEXT NOT NULL,
    reason        TEXT NOT NULL,
    rejected_at   TEXT NOT NULL
);
"""


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the same object always gives the same bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def model_material(config: ModelsConfig, name: str) -> dict[str, Any]:
    """The part of a model's configuration that can change its answers (not prices or limits)."""
    model = config.model(name)
    provider = config.providers[model.provider]
    return {
        "provider": {
            "kind": provider.kind,
            "protocol": provider.wire,
            "base_url": provider.base_url.rstrip("/") if provider.base_url else None,
        },
        "model_id": model.model_id,
        "params": {
            "temperature": model.temperature,
            "top_p": model.top_p,
            "max_tokens": model.max_tokens,
            "reasoning_effort": model.reasoning_effort,
            "extra_params": model.extra_params,
            # Only when not the default, so keys made before the option existed stay valid.
            **({"structured_output": model.structured_output} if model.structured_output != "auto" else {}),
        },
    }


def model_fingerprint(config: ModelsConfig, name: str) -> str:
    return hashlib.sha256(canonical_json(model_material(config, name)).encode("utf-8")).hexdigest()


def key_material(request: LLMRequest, config: ModelsConfig) -> dict[str, Any]:
    """Exactly what :func:`call_key` hashes; print it to debug an unexpected miss."""
    material = {
        "schema": KEY_SCHEMA,
        **model_material(config, request.model),
        "system": request.system,
        "messages": request.messages,
        "response_format": request.response_format,
        "template_hash": request.template_hash,
        "replicate": request.replicate,
        "attempt": request.attempt,
    }
    # Newer fields enter the key only when set, so keys made before they existed stay valid.
    if request.max_tokens is not None:
        material["params"] = {**material["params"], "max_tokens": request.max_tokens}
    if request.json_schema is not None and config.model(request.model).structured_output in SCHEMA_MODES:
        material["json_schema"] = request.json_schema  # sent on the wire only in these modes
    return material


def call_key(request: LLMRequest, config: ModelsConfig) -> str:
    """sha256 hex of the canonical JSON of :func:`key_material` (never the API key, never tags)."""
    return key_of(key_material(request, config))


def key_of(material: dict[str, Any]) -> str:
    """The call key of already-built key material."""
    return hashlib.sha256(canonical_json(material).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredCall:
    call_key: str
    model: str
    request: dict[str, Any]  # the key material
    response: dict[str, Any]  # text, model_reported, finish_reason, usage, latency_s
    created_at: str


class CallStore:
    """SQLite call store. Thread-safe (a connection per thread) and multi-process safe (WAL)."""

    def __init__(self, path: Path | str, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_ms = int(busy_timeout_s * 1000)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self._tx() as db:
            for stmt in filter(str.strip, _SCHEMA.split(";")):
                db.execute(stmt)

    def _conn(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a writer takes the
            # write lock up front and waits (busy_timeout) instead of failing on upgrade.
            db = sqlite3.connect(self.path, timeout=self._busy_ms / 1000, isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            db.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: durable against process crashes; a power cut may lose the last
            # commits, which only means re-sending those calls.
            db.execute("PRAGMA synchronous = NORMAL")
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, et: object, *_: object) -> None:
            self.db.execute("COMMIT" if et is None else "ROLLBACK")

    def _tx(self) -> CallStore._Tx:
        return CallStore._Tx(self._conn())

    # -- reads ---------------------------------------------------------------------------
    def get(self, key: str) -> StoredCall | None:
        row = self._conn().execute(
            "SELECT call_key, model, request_json, response_json, created_at FROM calls WHERE call_key = ?", (key,)
        ).fetchone()
        return _row(row) if row else None

    def get_many(self, keys: Iterable[str]) -> dict[str, StoredCall]:
        keys = list(dict.fromkeys(keys))
        out: dict[str, StoredCall] = {}
        db = self._conn()
        for i in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
            chunk = keys[i : i + 500]
            q = ",".join("?" * len(chunk))
            for row in db.execute(
                f"SELECT call_key, model, request_json, response_json, created_at FROM calls WHERE call_key IN ({q})",
                chunk,
            ):
                out[row[0]] = _row(row)
        return out

    def contains_many(self, keys: Iterable[str]) -> set[str]:
        keys = list(dict.fromkeys(keys))
        found: set[str] = set()
        db = self._conn()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = ",".join("?" * len(chunk))
            found.update(r[0] for r in db.execute(f"SELECT call_key FROM calls WHERE call_key IN ({q})", chunk))
        return found

    def __iter__(self) -> Iterator[StoredCall]:
        rows = self._conn().execute(
            "SELECT call_key, model, request_json, response_json, created_at FROM calls ORDER BY created_at, call_key"
        ).fetchall()
        return (_row(r) for r in rows)

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def stats(self) -> dict[str, Any]:
        """Row count and token totals overall and per model name."""
        db = self._conn()
        per_model = {
            r[0]: {"calls": r[1], "input_tokens": r[2], "output_tokens": r[3], "cached_tokens": r[4]}
            for r in db.execute(
                "SELECT model, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens) "
                "FROM calls GROUP BY model ORDER BY model"
            )
        }
        return {
            "path": str(self.path),
            "calls": sum(v["calls"] for v in per_model.values()),
            "input_tokens": sum(v["input_tokens"] for v in per_model.values()),
            "output_tokens": sum(v["output_tokens"] for v in per_model.values()),
            "per_model": per_model,
        }

    # -- writes --------------------------------------------------------------------------
    def put(self, key: str, model: str, request: dict[str, Any], response: dict[str, Any]) -> bool:
        """Store one successful call; returns False if the key was already there (first wins)."""
        return self.put_many([(key, model, request, response)]) == 1

    def put_many(self, rows: Iterable[tuple[str, str, dict[str, Any], dict[str, Any]]]) -> int:
        """Store several calls in one transaction; returns how many keys were new."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        params = []
        for key, model, request, response in rows:
            usage = response.get("usage", {})
            params.append((
                key, model, str(request.get("model_id", "")), str(request.get("provider", {}).get("kind", "")),
                canonical_json(request), canonical_json(response),
                int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)),
                int(usage.get("cached_tokens", 0)), now,
            ))
        if not params:
            return 0
        with self._tx() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO calls (call_key, model, model_id, provider_kind, request_json, response_json, "
                "input_tokens, output_tokens, cached_tokens, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                params,
            )
            return db.total_changes - before

    def reject(self, rejections: Iterable[tuple[str, str]]) -> int:
        """Move calls whose reply was unusable (e.g. judge JSON that failed parsing) out of the store.

        They are kept in `rejected_calls` for inspection but are no longer answers, so the next run
        asks again. Returns how many were moved.
        """
        items = list(dict(rejections).items())
        if not items:
            return 0
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        moved = 0
        with self._tx() as db:
            for key, reason in items:
                row = db.execute("SELECT model, request_json, response_json FROM calls WHERE call_key = ?",
                                 (key,)).fetchone()
                if row is None:
                    continue
                db.execute("INSERT INTO rejected_calls VALUES (?,?,?,?,?,?)", (key, row[0], row[1], row[2], reason, now))
                db.execute("DELETE FROM calls WHERE call_key = ?", (key,))
                moved += 1
        return moved

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for db in conns:
            with contextlib.suppress(sqlite3.ProgrammingError):
                db.close()
        self._local = threading.local()

    def __enter__(self) -> CallStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _row(row: tuple[Any, ...]) -> StoredCall:
    return StoredCall(row[0], row[1], json.loads(row[2]), json.loads(row[3]), row[4])
