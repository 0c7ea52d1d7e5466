"""One call-store interface, two backends: the same content-addressed semantics, claims and migrations
on SQLite (the embedded default) and on PostgreSQL (a team)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.llm.store import CallStoreBase, SQLiteCallStore, open_store
from pipelines.settings import Settings, SettingsError

REQ = {"model_id": "standin-generic", "provider": {"kind": "standin"}, "messages": ["q"]}


def resp(text: str, tin: int = 3, tout: int = 5) -> dict:
    return {"text": text, "usage": {"input_tokens": tin, "output_tokens": tout, "cached_tokens": 0}}


@pytest.fixture
def store(store_url: str) -> Iterator[CallStoreBase]:
    with open_store(store_url) as s:
        yield s


def test_url_chooses_the_backend(store: CallStoreBase, store_url: str) -> None:
    assert type(store).__name__ == ("SQLiteCallStore" if store_url.startswith("sqlite") else "PostgresCallStore")
    assert "password" not in store.url


def test_content_addressed_first_writer_wins(store: CallStoreBase) -> None:
    assert store.put_many([("k1", "m", REQ, resp("a")), ("k2", "m", REQ, resp("b"))]) == 2
    assert store.put("k1", "m", REQ, resp("other")) is False  # first writer wins
    assert store.put_many([("k1", "m", REQ, resp("x")), ("k3", "n", REQ, resp("c"))]) == 1
    assert store.get("k1").response["text"] == "a" and store.get("k1").request == REQ
    assert store.get("absent") is None
    assert set(store.get_many(["k1", "k3", "absent"])) == {"k1", "k3"}
    assert store.contains_many(["k2", "absent"]) == {"k2"}
    assert len(store) == 3 and sorted(c.call_key for c in store) == ["k1", "k2", "k3"]
    st = store.stats()
    assert st["calls"] == 3 and st["input_tokens"] == 9 and st["per_model"]["m"]["calls"] == 2


def test_rejected_replies_leave_the_store_and_are_kept_aside(store: CallStoreBase) -> None:
    store.put_many([("k1", "m", REQ, resp("not json")), ("k2", "m", REQ, resp("{}"))])
    assert store.reject([("k1", "judge reply is not JSON"), ("absent", "x")]) == 1
    assert store.get("k1") is None and len(store) == 1
    assert [(r["call_key"], r["reason"]) for r in store.rejected()] == [("k1", "judge reply is not JSON")]
    assert store.put("k1", "m", REQ, resp("fixed"))  # asked again, stored again


def test_claims_won_held_done(store: CallStoreBase) -> None:
    store.put("answered", "m", REQ, resp("a"))
    a = store.claim(["answered", "k1", "k2"], "worker-a", ttl_s=60)
    assert (a.won, a.done, a.held) == ({"k1", "k2"}, {"answered"}, set())
    b = store.claim(["k1", "k3"], "worker-b", ttl_s=60)
    assert (b.won, b.done, b.held) == ({"k3"}, set(), {"k1"})  # a live claim is not taken over
    # Once the answer is stored the waiter sees it as done, and the claim is gone with it.
    store.put("k1", "m", REQ, resp("from a"))
    assert store.claim(["k1"], "worker-b", ttl_s=60).done == {"k1"}
    assert store.release("worker-a", ["k1"]) == 0
    # A failed call is released: the waiter may take it at once.
    assert store.release("worker-a", ["k2"]) == 1
    assert store.claim(["k2"], "worker-b", ttl_s=60).won == {"k2"}


def test_an_expired_claim_is_taken_over_and_a_renewed_one_is_not(store: CallStoreBase) -> None:
    store.claim(["dead"], "owner", ttl_s=1.0)  # an owner that never renews (it died)
    deadline = time.monotonic() + 30
    while True:  # poll until the 1 s lease has lapsed (no duration is asserted)
        r = store.claim(["dead"], "taker", ttl_s=60)
        if r.won:
            break
        assert time.monotonic() < deadline, "an expired claim was never taken over"
        time.sleep(0.2)
    store.claim(["kept"], "owner2", ttl_s=1.0)
    store.renew("owner2", 3600)  # the holder is alive and renews: nobody takes it over
    assert store.claim(["kept"], "taker", ttl_s=60).held == {"kept"}
    assert store.release("owner2") == 1 and store.claim(["kept"], "taker", ttl_s=60).won == {"kept"}


def test_schema_is_created_and_migrated_once(store_url: str) -> None:
    with open_store(store_url) as s1:
        s1.put("k", "m", REQ, resp("a"))
        v = s1.schema_version()
    with open_store(store_url) as s2:  # reopening: nothing re-run, data kept
        assert s2.schema_version() == v >= 2 and len(s2) == 1


def test_a_store_from_before_versioning_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)  # the layout of stores written before schema_version existed
    db.executescript("""
        CREATE TABLE calls (call_key TEXT PRIMARY KEY, model TEXT NOT NULL, model_id TEXT NOT NULL,
            provider_kind TEXT NOT NULL, request_json TEXT NOT NULL, response_json TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL);
        CREATE TABLE rejected_calls (call_key TEXT NOT NULL, model TEXT NOT NULL, request_json TEXT NOT NULL,
            response_json TEXT NOT NULL, reason TEXT NOT NULL, rejected_at TEXT NOT NULL);
        INSERT INTO calls VALUES ('old', 'm', 'x', 'standin', '{}', '{"text": "kept"}', 1, 2, 0, '2026-01-01');
    """)
    db.close()
    with SQLiteCallStore(path) as s:
        assert s.get("old").response["text"] == "kept"
        assert s.claim(["old", "new"], "w", 60).won == {"new"}  # the claims table now exists


@pytest.mark.parametrize("url, why", [
    ("postgresql://bob:hunter2@db:5432/x", "password"),
    ("mysql://db/x", "unsupported scheme"),
    ("llm_calls.sqlite", "expected a URL"),
])
def test_settings_refuse_unusable_or_secret_bearing_call_store_urls(url: str, why: str) -> None:
    with pytest.raises(SettingsError, match=why):
        Settings.load(env={"XPERTBENCH_CALL_STORE": url})


def test_settings_choose_and_hand_on_the_call_store(tmp_path: Path) -> None:
    s = Settings.load(assets_dir=tmp_path, env={})
    assert s.call_store_url == f"sqlite:///{tmp_path / 'llm_calls.sqlite'}"
    t = Settings.load(env={"XPERTBENCH_CALL_STORE": "postgresql://xb@db:5432/calls"})
    assert t.call_store_url == "postgresql://xb@db:5432/calls"
    assert Settings.load(env=t.to_env()).call_store_url == t.call_store_url  # what child processes see


def test_an_existing_store_gains_the_batch_tables_and_records_batches(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration 3 (provider batches) on a store made at version 2, then the batch records, on both backends."""
    from pipelines.llm.store import postgres, sqlite

    module = sqlite if store_url.startswith("sqlite") else postgres
    with monkeypatch.context() as m:
        m.setattr(module, "MIGRATIONS", [x for x in module.MIGRATIONS if x[0] < 4])  # the code before batch mode
        with open_store(store_url) as old:
            old.put("k0", "m", REQ, resp("kept"))
            assert old.schema_version() < 4
    with open_store(store_url) as s:
        assert s.schema_version() == module.SCHEMA_VERSION >= 4 and s.get("k0").response["text"] == "kept"
        s.record_batch("batch_a", "p", "m", {"k1": {**REQ, "n": 1}, "k2": {**REQ, "n": 2}})
        s.record_batch("batch_b", "p", "m", {"k3": REQ})
        assert [(b.batch_id, b.status, b.keys) for b in s.open_batches(["k2", "k9"])] == \
            [("batch_a", "open", ["k1", "k2"])]
        assert s.batch_materials("batch_a") == {"k1": {**REQ, "n": 1}, "k2": {**REQ, "n": 2}}
        s.finish_batch("batch_a", "completed")
        assert s.open_batches(["k1", "k2", "k3"])[0].batch_id == "batch_b"
        assert [(b.batch_id, b.status, b.finished_at is not None) for b in s.batches()] == \
            [("batch_a", "completed", True), ("batch_b", "open", False)]


def test_a_version_2_store_gains_the_cache_write_column(store_url: str) -> None:
    """Migration 3 on each backend: a store of schema version 2 (no cache_write_tokens column) keeps its
    rows, reads them with 0 cache writes, and stores and sums cache writes from then on."""
    from pipelines.llm.store import postgres, sqlite

    module = sqlite if store_url.startswith("sqlite") else postgres
    with open_store(store_url) as s:  # made now, then taken back to version 2 by hand
        s.put("old", "m", REQ, resp("kept"))
        if isinstance(s, SQLiteCallStore):
            db = sqlite3.connect(s.path)
            db.executescript("ALTER TABLE calls DROP COLUMN cache_write_tokens; DROP TABLE batch_calls; "
                             "DROP TABLE batches; DELETE FROM schema_version WHERE version >= 3;")
            db.commit()
            db.close()
        else:
            import sqlalchemy as sa

            with s._engine.begin() as c:  # type: ignore[attr-defined]
                for stmt in ("ALTER TABLE xpertbench.calls DROP COLUMN cache_write_tokens",
                             "DROP TABLE xpertbench.batch_calls", "DROP TABLE xpertbench.batches",
                             "DELETE FROM xpertbench.schema_version WHERE version >= 3"):
                    c.execute(sa.text(stmt))
    with open_store(store_url) as s:
        assert s.schema_version() == module.SCHEMA_VERSION and s.get("old").response["text"] == "kept"  # type: ignore[attr-defined]
        assert s.per_model()["m"]["cache_write_tokens"] == 0
        usage = {"input_tokens": 100, "output_tokens": 5, "cached_tokens": 30, "cache_write_tokens": 60}
        s.put("new", "m", REQ, {"text": "b", "usage": usage})
        assert s.per_model()["m"] == {"calls": 2, "input_tokens": 103, "output_tokens": 10, "cached_tokens": 30,
                                      "cache_write_tokens": 60}
