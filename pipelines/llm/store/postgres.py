"""PostgreSQL call store for a team: every worker, on any machine, shares one store; semantics in `base.py`.

Chosen by URL (`XPERTBENCH_CALL_STORE=postgresql://user@host:5432/db`); the password comes from
the environment (`PGPASSWORD`, a `~/.pgpass` file or a mounted Kubernetes secret), never from the
URL (Settings refuses one that carries it). Tables live in their own Postgres schema,
`xpertbench`, so the store can share a database with the Dagster instance.

Time is the server's (`clock_timestamp()`): claim expiry does not depend on the workers' clocks.
Statements that lock several rows take them in sorted key order, so two workers never deadlock;
a serialization failure or deadlock (another client's doing) is retried.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipelines.llm.store.base import BatchRecord, CallStoreBase, ClaimResult, Row, row_values
from pipelines.llm.store.keys import StoredCall, canonical_json

SCHEMA = "xpertbench"
_LOCK_ID = 0x78626C6C6D  # pg_advisory_xact_lock id for migrations ("xbllm")

# (version, statements): each runs once, in order, under an advisory lock, recorded in schema_version.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, [
        f"""CREATE TABLE {SCHEMA}.calls (
            call_key      TEXT PRIMARY KEY,
            model         TEXT NOT NULL,
            model_id      TEXT NOT NULL,
            provider_kind TEXT NOT NULL,
            request_json  TEXT NOT NULL,
            response_json TEXT NOT NULL,
            input_tokens  BIGINT NOT NULL DEFAULT 0,
            output_tokens BIGINT NOT NULL DEFAULT 0,
            cached_tokens BIGINT NOT NULL DEFAULT 0,
            created_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())""",
        f"CREATE INDEX calls_model ON {SCHEMA}.calls(model)",
        f"""CREATE TABLE {SCHEMA}.rejected_calls (
            id            BIGSERIAL PRIMARY KEY,
            call_key      TEXT NOT NULL,
            model         TEXT NOT NULL,
            request_json  TEXT NOT NULL,
            response_json TEXT NOT NULL,
            reason        TEXT NOT NULL,
            rejected_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())""",
    ]),
    (2, [
        f"""CREATE TABLE {SCHEMA}.claims (
            call_key   TEXT PRIMARY KEY,
            owner      TEXT NOT NULL,
            claimed_at TIMESTAMPTZ NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL)""",
        f"CREATE INDEX claims_owner ON {SCHEMA}.claims(owner)",
    ]),
    (3, [
        # Anthropic cache writes, priced apart from uncached input (0 for rows stored before).
        f"ALTER TABLE {SCHEMA}.calls ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0",
    ]),
    (4, [
        # Provider batches (mode: batch), recorded before polling so a killed run resumes them.
        f"""CREATE TABLE {SCHEMA}.batches (
            batch_id     TEXT PRIMARY KEY,
            provider     TEXT NOT NULL,
            model        TEXT NOT NULL,
            status       TEXT NOT NULL,
            submitted_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
            finished_at  TIMESTAMPTZ)""",
        f"""CREATE TABLE {SCHEMA}.batch_calls (
            batch_id TEXT NOT NULL, call_key TEXT NOT NULL, request_json TEXT NOT NULL,
            PRIMARY KEY (batch_id, call_key))""",
        f"CREATE INDEX batch_calls_key ON {SCHEMA}.batch_calls(call_key)",
    ]),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
_RETRYABLE = {"40001", "40P01"}  # serialization_failure, deadlock_detected
T = TypeVar("T")


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds")


class PostgresCallStore(CallStoreBase):
    """Call store on PostgreSQL through SQLAlchemy (psycopg2 driver). Thread- and process-safe."""

    def __init__(self, url: str, pool_size: int = 4) -> None:
        self._engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True,
                                        isolation_level="READ COMMITTED")
        self.url = self._engine.url.render_as_string(hide_password=True)
        self._closed = threading.Event()
        self._migrate()

    def _migrate(self) -> None:
        with self._engine.begin() as c:
            c.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})  # one migrator at a time
            c.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
            c.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version (version INTEGER NOT NULL)"))
            current = c.execute(sa.text(f"SELECT COALESCE(MAX(version), 0) FROM {SCHEMA}.schema_version")).scalar_one()
            for version, statements in MIGRATIONS:
                if version > current:
                    for stmt in statements:
                        c.execute(sa.text(stmt))
                    c.execute(sa.text(f"INSERT INTO {SCHEMA}.schema_version VALUES (:v)"), {"v": version})

    def schema_version(self) -> int:
        with self._engine.connect() as c:
            return int(c.execute(sa.text(f"SELECT MAX(version) FROM {SCHEMA}.schema_version")).scalar_one())

    def _tx(self, fn: Callable[[Connection], T], attempts: int = 5) -> T:
        """Run `fn` in one transaction, retrying serialization failures and deadlocks."""
        for attempt in range(attempts):
            try:
                with self._engine.begin() as c:
                    return fn(c)
            except sa.exc.DBAPIError as e:
                code = getattr(e.orig, "pgcode", None)
                if code not in _RETRYABLE or attempt == attempts - 1:
                    raise
                time.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    # -- reads ---------------------------------------------------------------------------
    def get_many(self, keys: Iterable[str]) -> dict[str, StoredCall]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        with self._engine.connect() as c:
            rows = c.execute(sa.text(
                f"SELECT call_key, model, request_json, response_json, created_at FROM {SCHEMA}.calls "
                "WHERE call_key = ANY(:keys)"), {"keys": keys}).all()
        return {r[0]: _row(r) for r in rows}

    def contains_many(self, keys: Iterable[str]) -> set[str]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return set()
        with self._engine.connect() as c:
            return set(c.execute(sa.text(f"SELECT call_key FROM {SCHEMA}.calls WHERE call_key = ANY(:keys)"),
                                 {"keys": keys}).scalars())

    def __iter__(self) -> Iterator[StoredCall]:
        with self._engine.connect() as c:
            rows = c.execute(sa.text(
                f"SELECT call_key, model, request_json, response_json, created_at FROM {SCHEMA}.calls "
                "ORDER BY created_at, call_key")).all()
        return (_row(r) for r in rows)

    def __len__(self) -> int:
        with self._engine.connect() as c:
            return int(c.execute(sa.text(f"SELECT COUNT(*) FROM {SCHEMA}.calls")).scalar_one())

    def per_model(self) -> dict[str, dict[str, int]]:
        with self._engine.connect() as c:
            rows = c.execute(sa.text(
                f"SELECT model, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens), "
                f"SUM(cache_write_tokens) FROM {SCHEMA}.calls GROUP BY model ORDER BY model")).all()
        return {r[0]: {"calls": int(r[1]), "input_tokens": int(r[2]), "output_tokens": int(r[3]),
                       "cached_tokens": int(r[4]), "cache_write_tokens": int(r[5])} for r in rows}

    def rejected(self) -> list[dict[str, Any]]:
        with self._engine.connect() as c:
            rows = c.execute(sa.text(
                f"SELECT call_key, model, reason, rejected_at FROM {SCHEMA}.rejected_calls ORDER BY id")).all()
        return [{"call_key": r[0], "model": r[1], "reason": r[2], "rejected_at": _iso(r[3])} for r in rows]

    # -- writes --------------------------------------------------------------------------
    def put_many(self, rows: Iterable[Row]) -> int:
        values = sorted({v[0]: v for v in map(row_values, rows)}.values())  # one per key, in lock order
        if not values:
            return 0
        cols = list(zip(*values, strict=True))
        params = {"k": list(cols[0]), "m": list(cols[1]), "mid": list(cols[2]), "pk": list(cols[3]),
                  "rq": list(cols[4]), "rs": list(cols[5]), "i": list(cols[6]), "o": list(cols[7]), "c": list(cols[8]),
                  "cw": list(cols[9])}

        def tx(c: Connection) -> int:
            new = c.execute(sa.text(
                f"INSERT INTO {SCHEMA}.calls (call_key, model, model_id, provider_kind, request_json, response_json, "
                "input_tokens, output_tokens, cached_tokens, cache_write_tokens) "
                "SELECT * FROM unnest(CAST(:k AS text[]), CAST(:m AS text[]), CAST(:mid AS text[]), "
                "CAST(:pk AS text[]), CAST(:rq AS text[]), CAST(:rs AS text[]), CAST(:i AS bigint[]), "
                "CAST(:o AS bigint[]), CAST(:c AS bigint[]), CAST(:cw AS bigint[])) "
                "ON CONFLICT (call_key) DO NOTHING RETURNING call_key"), params).all()
            # The answer makes the claim moot: it goes with the write.
            c.execute(sa.text(f"DELETE FROM {SCHEMA}.claims WHERE call_key = ANY(:k)"), {"k": params["k"]})
            return len(new)

        return self._tx(tx)

    def reject(self, rejections: Iterable[tuple[str, str]]) -> int:
        items = sorted(dict(rejections).items())
        if not items:
            return 0

        def tx(c: Connection) -> int:
            moved = c.execute(sa.text(
                f"WITH r AS (SELECT * FROM unnest(CAST(:k AS text[]), CAST(:why AS text[])) AS t(call_key, reason)), "
                f"gone AS (DELETE FROM {SCHEMA}.calls c USING r WHERE c.call_key = r.call_key "
                "RETURNING c.call_key, c.model, c.request_json, c.response_json, r.reason) "
                f"INSERT INTO {SCHEMA}.rejected_calls (call_key, model, request_json, response_json, reason) "
                "SELECT * FROM gone ORDER BY call_key RETURNING call_key"),
                {"k": [k for k, _ in items], "why": [w for _, w in items]}).all()
            return len(moved)

        return self._tx(tx)

    # -- claims --------------------------------------------------------------------------
    def claim(self, keys: Iterable[str], owner: str, ttl_s: float) -> ClaimResult:
        keys = sorted(set(keys))
        out = ClaimResult()
        if not keys:
            return out

        def tx(c: Connection) -> set[str]:
            return set(c.execute(sa.text(
                f"INSERT INTO {SCHEMA}.claims (call_key, owner, claimed_at, expires_at) "
                "SELECT k, :owner, clock_timestamp(), clock_timestamp() + make_interval(secs => :ttl) "
                f"FROM unnest(CAST(:keys AS text[])) AS k WHERE NOT EXISTS "
                f"(SELECT 1 FROM {SCHEMA}.calls c WHERE c.call_key = k) ORDER BY k "
                "ON CONFLICT (call_key) DO UPDATE SET owner = EXCLUDED.owner, claimed_at = EXCLUDED.claimed_at, "
                f"expires_at = EXCLUDED.expires_at WHERE {SCHEMA}.claims.expires_at < clock_timestamp() "
                "RETURNING call_key"), {"owner": owner, "ttl": float(ttl_s), "keys": keys}).scalars())

        won = self._tx(tx)
        # After our claim committed, an answer stored by the previous holder is visible: under READ
        # COMMITTED the insert above may have missed one committed while it ran. Check, then give back.
        out.done = self.contains_many(keys)
        late = won & out.done
        if late:
            self.release(owner, late)
        out.won = won - out.done
        out.held = set(keys) - out.won - out.done
        return out

    def renew(self, owner: str, ttl_s: float) -> int:
        return self._tx(lambda c: c.execute(sa.text(
            f"UPDATE {SCHEMA}.claims SET expires_at = clock_timestamp() + make_interval(secs => :ttl) "
            "WHERE owner = :owner"), {"owner": owner, "ttl": float(ttl_s)}).rowcount)

    def release(self, owner: str, keys: Iterable[str] | None = None) -> int:
        if keys is None:
            return self._tx(lambda c: c.execute(sa.text(f"DELETE FROM {SCHEMA}.claims WHERE owner = :owner"),
                                                {"owner": owner}).rowcount)
        ks = sorted(set(keys))
        return self._tx(lambda c: c.execute(sa.text(
            f"DELETE FROM {SCHEMA}.claims WHERE owner = :owner AND call_key = ANY(:keys)"),
            {"owner": owner, "keys": ks}).rowcount)

    # -- provider batches ----------------------------------------------------------------
    def record_batch(self, batch_id: str, provider: str, model: str, calls: dict[str, dict[str, Any]]) -> None:
        keys = sorted(calls)

        def tx(c: Connection) -> None:
            c.execute(sa.text(f"INSERT INTO {SCHEMA}.batches (batch_id, provider, model, status) "
                              "VALUES (:b, :p, :m, 'open')"), {"b": batch_id, "p": provider, "m": model})
            c.execute(sa.text(f"INSERT INTO {SCHEMA}.batch_calls SELECT :b, k, r FROM unnest(CAST(:keys AS text[]), "
                              "CAST(:reqs AS text[])) AS t(k, r) ON CONFLICT DO NOTHING"),
                      {"b": batch_id, "keys": keys, "reqs": [canonical_json(calls[k]) for k in keys]})

        self._tx(tx)

    def batch_materials(self, batch_id: str) -> dict[str, dict[str, Any]]:
        with self._engine.connect() as c:
            rows = c.execute(sa.text(f"SELECT call_key, request_json FROM {SCHEMA}.batch_calls WHERE batch_id = :b"),
                             {"b": batch_id}).all()
        return {r[0]: json.loads(r[1]) for r in rows}

    def open_batches(self, keys: Iterable[str]) -> list[BatchRecord]:
        with self._engine.connect() as c:
            ids = set(c.execute(sa.text(
                f"SELECT DISTINCT b.batch_id FROM {SCHEMA}.batch_calls k JOIN {SCHEMA}.batches b "
                "ON b.batch_id = k.batch_id WHERE b.status = 'open' AND k.call_key = ANY(:keys)"),
                {"keys": list(dict.fromkeys(keys))}).scalars())
        return [r for r in self.batches() if r.batch_id in ids]

    def finish_batch(self, batch_id: str, status: str) -> None:
        self._tx(lambda c: c.execute(sa.text(
            f"UPDATE {SCHEMA}.batches SET status = :s, finished_at = clock_timestamp() WHERE batch_id = :b"),
            {"s": status, "b": batch_id}))

    def batches(self) -> list[BatchRecord]:
        with self._engine.connect() as c:
            keys: dict[str, list[str]] = {}
            for bid, key in c.execute(sa.text(
                    f"SELECT batch_id, call_key FROM {SCHEMA}.batch_calls ORDER BY batch_id, call_key")):
                keys.setdefault(bid, []).append(key)
            rows = c.execute(sa.text(f"SELECT batch_id, provider, model, status, submitted_at, finished_at "
                                     f"FROM {SCHEMA}.batches ORDER BY submitted_at, batch_id")).all()
        return [BatchRecord(r[0], r[1], r[2], r[3], _iso(r[4]), _iso(r[5]) if r[5] else None, keys.get(r[0], []))
                for r in rows]

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._engine.dispose()

    def __enter__(self) -> PostgresCallStore:
        return self


def _row(row: Any) -> StoredCall:
    return StoredCall(row[0], row[1], json.loads(row[2]), json.loads(row[3]), _iso(row[4]))
