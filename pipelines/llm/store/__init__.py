"""Content-addressed store of successful LLM calls, on SQLite (default) or PostgreSQL (a team).

    store = open_store("sqlite:///assets/llm_calls.sqlite")   # or a Path, or postgresql://user@host/db

A key found in the store is never sent again, so reruns are free and reproducible. Only
successful HTTP responses are stored; an error is never stored as an answer. A 200 whose
*content* is unusable (e.g. an invalid judge reply) is stored, then moved aside by `reject`.
Keys: `keys.py`; the interface, claims included: `base.py`.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.llm.store.base import BatchRecord, CallStoreBase, ClaimResult, Row
from pipelines.llm.store.keys import (
    KEY_SCHEMA,
    StoredCall,
    call_key,
    canonical_json,
    key_material,
    key_of,
    model_fingerprint,
    model_material,
)
from pipelines.llm.store.sqlite import SQLiteCallStore

CallStore = SQLiteCallStore  # the embedded default; open_store() picks the backend from a URL

__all__ = ["KEY_SCHEMA", "BatchRecord", "CallStore", "CallStoreBase", "ClaimResult", "Row", "SQLiteCallStore", "StoredCall",
           "call_key", "canonical_json", "is_url", "key_material", "key_of", "model_fingerprint", "model_material",
           "open_store"]


def is_url(target: str | Path) -> bool:
    return isinstance(target, str) and "://" in target


def open_store(target: str | Path | CallStoreBase) -> CallStoreBase:
    """A store from a path (SQLite), `sqlite:///path`, or `postgresql[+driver]://...`."""
    if isinstance(target, CallStoreBase):
        return target
    if not is_url(target):
        return SQLiteCallStore(Path(target))
    scheme = str(target).split("://", 1)[0].lower()
    if scheme == "sqlite":
        path = str(target)[len("sqlite:///"):] if str(target).startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"call store URL {target!r}: expected sqlite:///relative/path or sqlite:////absolute/path")
        return SQLiteCallStore(Path(path))
    base, _, driver = scheme.partition("+")
    if base in ("postgresql", "postgres"):
        from pipelines.llm.store.postgres import PostgresCallStore  # SQLAlchemy only when asked for

        # psycopg2 comes with dagster-postgres; SQLAlchemy 2.1 would otherwise pick psycopg 3.
        return PostgresCallStore(f"postgresql+{driver or 'psycopg2'}://" + str(target).split("://", 1)[1])
    raise ValueError(f"call store URL {target!r}: unsupported scheme {scheme!r} (use sqlite:/// or postgresql://)")
