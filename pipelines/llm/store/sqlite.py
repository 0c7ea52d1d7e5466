"""SQLite call store: the embedded default (`assets/llm_calls.sqlite`); semantics in `base.py`.

Concurrency: WAL mode plus a busy timeout make concurrent writers safe across threads (one
connection per thread) and processes on one machine; every write and every claim is a
`BEGIN IMMEDIATE` transaction, so claims are exclusive across processes too. Claim expiry uses
the machine's wall clock, which all processes sharing one SQLite file have in common.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.llm.store.base import BatchRecord, CallStoreBase, ClaimResult, Row, row_values
from pipelines.llm.store.keys import StoredCall, canonical_json

# (version, statements). Version 1 is the schema stores had before versioning existed (hence
# IF NOT EXISTS); each later step runs once, in order, recorded in schema_version.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, [
        """CREATE TABLE IF NOT EXISTS calls (
            call_key      TEXT PRIMARY KEY,
            model         TEXT NOT NULL,
            model_id      TEXT NOT NULL,
            provider_kind TEXT NOT NULL,
            request_json  TEXT NOT NULL,
            response_json TEXT NOT NULL,
            input_tokens  INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            created_at    TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS calls_model ON calls(model)",
        """CREATE TABLE IF NOT EXISTS rejected_calls (
            call_key      TEXT NOT NULL,
            model         TEXT NOT NULL,
            request_json  TEXT NOT NULL,
            response_json TEXT NOT NULL,
            reason        TEXT NOT NULL,
            rejected_at   TEXT NOT NULL)""",
    ]),
    (2, [
        # expires_at: seconds since the epoch (time.time()) after which a waiter may take over
        "CREATE TABLE claims (call_key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)",
        "CREATE INDEX claims_owner ON claims(owner)",
    ]),
    (3, [
        # Anthropic cache writes, priced apart from uncached input (0 for rows stored before).
        "ALTER TABLE calls ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0",
    ]),
    (4, [
        # Provider batches (mode: batch), recorded before polling so a killed run resumes them.
        """CREATE TABLE batches (batch_id TEXT PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL,
            status TEXT NOT NULL, submitted_at TEXT NOT NULL, finished_at TEXT)""",
        """CREATE TABLE batch_calls (batch_id TEXT NOT NULL, call_key TEXT NOT NULL, request_json TEXT NOT NULL,
            PRIMARY KEY (batch_id, call_key))""",
        "CREATE INDEX batch_calls_key ON batch_calls(call_key)",
    ]),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
_CHUNK = 500  # stay under SQLite's bound-parameter limit


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(keys), _CHUNK):
        yield keys[i : i + _CHUNK]


class SQLiteCallStore(CallStoreBase):
    """SQLite call store. Thread-safe (a connection per thread) and multi-process safe (WAL)."""

    def __init__(self, path: Path | str, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_ms = int(busy_timeout_s * 1000)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    def _migrate(self) -> None:
        with self._tx() as db:  # BEGIN IMMEDIATE: one process migrates, the others wait and see it done
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            for version, statements in MIGRATIONS:
                if version > current:
                    for stmt in statements:
                        db.execute(stmt)
                    db.execute("INSERT INTO schema_version VALUES (?)", (version,))

    def schema_version(self) -> int:
        return int(self._conn().execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

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

    def _tx(self) -> SQLiteCallStore._Tx:
        return SQLiteCallStore._Tx(self._conn())

    # -- reads ---------------------------------------------------------------------------
    def get_many(self, keys: Iterable[str]) -> dict[str, StoredCall]:
        out: dict[str, StoredCall] = {}
        db = self._conn()
        for chunk in _chunks(list(dict.fromkeys(keys))):
            q = ",".join("?" * len(chunk))
            for row in db.execute(
                f"SELECT call_key, model, request_json, response_json, created_at FROM calls WHERE call_key IN ({q})",
                chunk,
            ):
                out[row[0]] = _row(row)
        return out

    def contains_many(self, keys: Iterable[str]) -> set[str]:
        found: set[str] = set()
        db = self._conn()
        for chunk in _chunks(list(dict.fromkeys(keys))):
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

    def per_model(self) -> dict[str, dict[str, int]]:
        return {
            r[0]: {"calls": r[1], "input_tokens": r[2], "output_tokens": r[3], "cached_tokens": r[4],
                   "cache_write_tokens": r[5]}
            for r in self._conn().execute(
                "SELECT model, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens), "
                "SUM(cache_write_tokens) "
                "FROM calls GROUP BY model ORDER BY model"
            )
        }

    def rejected(self) -> list[dict[str, Any]]:
        return [
            {"call_key": r[0], "model": r[1], "reason": r[2], "rejected_at": r[3]}
            for r in self._conn().execute(
                "SELECT call_key, model, reason, rejected_at FROM rejected_calls ORDER BY rowid")
        ]

    # -- writes --------------------------------------------------------------------------
    def put_many(self, rows: Iterable[Row]) -> int:
        now = _now_iso()
        params = [(*row_values(r), now) for r in rows]
        if not params:
            return 0
        with self._tx() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO calls (call_key, model, model_id, provider_kind, request_json, response_json, "
                "input_tokens, output_tokens, cached_tokens, cache_write_tokens, created_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                params,
            )
            new = db.total_changes - before
            # The answer makes the claim moot: it goes with the write.
            db.executemany("DELETE FROM claims WHERE call_key = ?", [(p[0],) for p in params])
            return new

    def reject(self, rejections: Iterable[tuple[str, str]]) -> int:
        items = list(dict(rejections).items())
        if not items:
            return 0
        now = _now_iso()
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

    # -- claims --------------------------------------------------------------------------
    def claim(self, keys: Iterable[str], owner: str, ttl_s: float) -> ClaimResult:
        keys = list(dict.fromkeys(keys))
        out = ClaimResult()
        if not keys:
            return out
        with self._tx() as db:  # exclusive: no other process claims or stores in between
            now = time.time()
            for chunk in _chunks(keys):
                q = ",".join("?" * len(chunk))
                out.done.update(r[0] for r in db.execute(f"SELECT call_key FROM calls WHERE call_key IN ({q})", chunk))
            todo = [k for k in keys if k not in out.done]
            db.executemany(
                "INSERT INTO claims (call_key, owner, expires_at) VALUES (?,?,?) ON CONFLICT(call_key) DO UPDATE "
                "SET owner = excluded.owner, expires_at = excluded.expires_at WHERE claims.expires_at < ?",
                [(k, owner, now + ttl_s, now) for k in todo],
            )
            for chunk in _chunks(todo):
                q = ",".join("?" * len(chunk))
                out.won.update(r[0] for r in db.execute(
                    f"SELECT call_key FROM claims WHERE owner = ? AND call_key IN ({q})", [owner, *chunk]))
        out.held = set(todo) - out.won
        return out

    def renew(self, owner: str, ttl_s: float) -> int:
        with self._tx() as db:
            return db.execute("UPDATE claims SET expires_at = ? WHERE owner = ?", (time.time() + ttl_s, owner)).rowcount

    def release(self, owner: str, keys: Iterable[str] | None = None) -> int:
        with self._tx() as db:
            if keys is None:
                return db.execute("DELETE FROM claims WHERE owner = ?", (owner,)).rowcount
            return sum(db.execute("DELETE FROM claims WHERE owner = ? AND call_key = ?", (owner, k)).rowcount
                       for k in dict.fromkeys(keys))

    # -- provider batches ----------------------------------------------------------------
    def record_batch(self, batch_id: str, provider: str, model: str, calls: dict[str, dict[str, Any]]) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO batches VALUES (?,?,?,?,?,NULL)", (batch_id, provider, model, "open", _now_iso()))
            db.executemany("INSERT OR IGNORE INTO batch_calls VALUES (?,?,?)",
                           [(batch_id, k, canonical_json(m)) for k, m in calls.items()])

    def batch_materials(self, batch_id: str) -> dict[str, dict[str, Any]]:
        return {r[0]: json.loads(r[1]) for r in self._conn().execute(
            "SELECT call_key, request_json FROM batch_calls WHERE batch_id = ?", (batch_id,))}

    def open_batches(self, keys: Iterable[str]) -> list[BatchRecord]:
        db = self._conn()
        ids: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(keys))):
            q = ",".join("?" * len(chunk))
            ids.update(r[0] for r in db.execute(
                f"SELECT DISTINCT b.batch_id FROM batch_calls c JOIN batches b ON b.batch_id = c.batch_id "
                f"WHERE b.status = 'open' AND c.call_key IN ({q})", chunk))
        return [r for r in self.batches() if r.batch_id in ids]

    def finish_batch(self, batch_id: str, status: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE batches SET status = ?, finished_at = ? WHERE batch_id = ?", (status, _now_iso(), batch_id))

    def batches(self) -> list[BatchRecord]:
        db = self._conn()
        keys: dict[str, list[str]] = {}
        for bid, key in db.execute("SELECT batch_id, call_key FROM batch_calls ORDER BY batch_id, call_key"):
            keys.setdefault(bid, []).append(key)
        return [BatchRecord(r[0], r[1], r[2], r[3], r[4], r[5], keys.get(r[0], []))
                for r in db.execute("SELECT batch_id, provider, model, status, submitted_at, finished_at FROM batches "
                                    "ORDER BY submitted_at, batch_id")]

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for db in conns:
            with contextlib.suppress(sqlite3.ProgrammingError):
                db.close()
        self._local = threading.local()

    def __enter__(self) -> SQLiteCallStore:
        return self


def _row(row: tuple[Any, ...]) -> StoredCall:
    return StoredCall(row[0], row[1], json.loads(row[2]), json.loads(row[3]), row[4])
