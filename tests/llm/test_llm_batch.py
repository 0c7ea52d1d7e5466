"""Batch mode (mode: batch) through the real openai and anthropic SDKs against the stand-in's batch endpoints.

Completion is counted in polls and polling waits on a virtual clock (FakeClock): no test sleeps on
wall time. Server-side batch creations are counted to prove that nothing is submitted twice.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from llm_helpers import FAST, FakeClock, req

from pipelines.llm import LLMRunner, ModelsConfig, StandinServer, cancel
from pipelines.llm.clock import Clock, MonotonicClock
from pipelines.llm.config import ConfigError, load_models_config
from pipelines.llm.store import CallStore

ROOT = Path(__file__).resolve().parents[2]


def batch_config(base_url: str, protocol: str, *, mode: str = "batch", **provider: Any) -> ModelsConfig:
    """A kind openai|anthropic provider pointed at the stand-in (keyless), model "m" on it, in ``mode``."""
    url = base_url + "/v1" if protocol == "openai" else base_url
    prov = {"kind": protocol, "base_url": url, "needs_key": False, "http_transport": "httpx2",
            "batch_poll_s": 60.0, **FAST, **provider}
    return ModelsConfig.model_validate({
        "version": "test", "providers": {"p": prov},
        "models": {"m": {"provider": "p", "model_id": "standin-generic", "temperature": 0.0, "max_tokens": 256,
                         "mode": mode},
                   "judge": {"provider": "p", "model_id": "standin-judge", "max_tokens": 512}},
        "candidates": ["m"], "judge": "judge"})


def prompts(n: int) -> list[Any]:
    return [req(f"Question number {i}: what drives bond prices?") for i in range(n)]


def runner(cfg: ModelsConfig, store: Path, clock: Clock | None = None) -> LLMRunner:
    r = LLMRunner(cfg, store, log=(lines := []).append, progress=False, seed=1, clock=clock or FakeClock())
    r.lines = lines  # type: ignore[attr-defined]
    return r.start()


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_batch_mode_answers_like_sync_mode_and_stores_the_same_rows(
        server: StandinServer, tmp_path: Path, protocol: str) -> None:
    server.batches.configure(complete_after_polls=3)
    reqs = prompts(5)
    clock = FakeClock()
    with runner(batch_config(server.base_url, protocol), tmp_path / "batch.sqlite", clock) as llm:
        got = llm.run(reqs, desc="gen")
        lines = list(llm.lines)
    with runner(batch_config(server.base_url, protocol, mode="sync"), tmp_path / "sync.sqlite") as llm:
        want = llm.run(reqs, desc="gen")
    assert server.batches.stats()["created"] == {protocol: 1}
    assert all(r.ok for r in got), [r.error_message for r in got]
    # Same answers, usage and returned model id; only mode/batch_id tell them apart.
    same = ("call_key", "text", "model_reported", "finish_reason", "input_tokens", "output_tokens", "cached_tokens")
    assert [[getattr(r, f) for f in same] for r in got] == [[getattr(r, f) for f in same] for r in want]
    assert {r.mode for r in got} == {"batch"} and {r.mode for r in want} == {"sync"}
    assert len({r.batch_id for r in got}) == 1 and got[0].batch_id
    # Polled on the virtual clock, every batch_poll_s; progress lines name the batch and its counts.
    assert clock.sleeps.count(60.0) == 2
    assert any(f"batch {got[0].batch_id} in_progress" in ln and "5 total" in ln for ln in lines), lines
    # The stored rows: same request material and usage columns; the batch is closed.
    b, s = CallStore(tmp_path / "batch.sqlite"), CallStore(tmp_path / "sync.sqlite")
    for key in (r.call_key for r in got):
        rb, rs = b.get(key), s.get(key)
        assert rb is not None and rs is not None
        assert rb.request == rs.request and rb.response["usage"] == rs.response["usage"]
        assert rb.response["mode"] == "batch" and rb.response["batch_id"] == got[0].batch_id
    final = {"openai": "completed", "anthropic": "ended"}[protocol]  # the provider's own final status
    assert [(x.batch_id, x.status) for x in b.batches()] == [(got[0].batch_id, final)]
    # A rerun answers from the store and submits nothing.
    with runner(batch_config(server.base_url, protocol), tmp_path / "batch.sqlite") as llm:
        again = llm.run(reqs, desc="gen")
    assert all(r.from_store and r.mode == "batch" for r in again)
    assert server.batches.stats()["created"] == {protocol: 1}


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_partial_failures_are_retried_in_a_later_batch_and_final_errors_come_back(
        server: StandinServer, tmp_path: Path, protocol: str) -> None:
    # Item 0: a 500 (retryable), item 1 expires (retryable), item 2: a 400 (final); the rest answer.
    server.batches.configure(complete_after_polls=1,
                             item_faults=[{"status": 500}, {"expire": True}, {"status": 400, "message": "bad"}])
    reqs = prompts(5)
    with runner(batch_config(server.base_url, protocol), tmp_path / "c.sqlite") as llm:
        got = llm.run(reqs, desc="gen")
    assert server.batches.stats()["created"] == {protocol: 2}  # the retryable two went into a second batch
    assert [r.ok for r in got] == [True, True, False, True, True]
    assert got[2].error_type == "BatchItemError" and "400" in (got[2].error_message or "")
    assert got[0].batch_id != got[3].batch_id == got[4].batch_id and got[0].batch_id == got[1].batch_id
    assert len(CallStore(tmp_path / "c.sqlite")) == 4  # the error is not stored as an answer


def test_an_item_failing_in_every_batch_ends_as_a_call_error(server: StandinServer, tmp_path: Path) -> None:
    server.batches.configure(complete_after_polls=1, item_faults=[{"status": 503}] * 10)
    with runner(batch_config(server.base_url, "openai", max_retries=2), tmp_path / "c.sqlite") as llm:
        (res,) = llm.run(prompts(1), desc="gen")
    assert not res.ok and res.attempts == 3 and "503" in (res.error_message or "")
    assert server.batches.stats()["created"] == {"openai": 3}


def test_calls_answered_from_the_store_are_never_put_in_a_batch(server: StandinServer, tmp_path: Path) -> None:
    reqs = prompts(4)
    with runner(batch_config(server.base_url, "openai", mode="sync"), tmp_path / "c.sqlite") as llm:
        llm.run(reqs[:3], desc="gen")
    with runner(batch_config(server.base_url, "openai"), tmp_path / "c.sqlite") as llm:
        got = llm.run(reqs, desc="gen")
    (stats_batch,) = server.batches.stats()["batches"]
    assert stats_batch["custom_ids"] == [got[3].call_key]
    assert [r.from_store for r in got] == [True, True, True, False]


def test_batch_mode_is_a_config_error_for_other_kinds() -> None:
    with pytest.raises(ValueError, match="mode 'batch' needs a provider of kind openai or anthropic"):
        ModelsConfig.model_validate({
            "version": "t", "providers": {"p": {"kind": "standin", "protocol": "openai", "mode": "batch"}},
            "models": {"m": {"provider": "p", "model_id": "standin-generic"}}, "candidates": ["m"], "judge": "m"})


def test_mode_batch_in_models_yaml(tmp_path: Path) -> None:
    p = tmp_path / "models.yaml"
    p.write_text("version: t\nproviders:\n  s: {kind: standin, protocol: openai}\n"
                 "  o: {kind: openai, base_url: 'http://127.0.0.1:9/v1', needs_key: false, mode: batch}\n"
                 "models:\n  a: {provider: o, model_id: x}\n  b: {provider: o, model_id: x, mode: sync}\n"
                 "  c: {provider: s, model_id: standin-judge, mode: batch}\ncandidates: [a, b]\njudge: c\n")
    with pytest.raises(ConfigError, match="model 'c': mode 'batch' needs"):
        load_models_config(p)
    p.write_text(p.read_text().replace("c: {provider: s, model_id: standin-judge, mode: batch}",
                                       "c: {provider: s, model_id: standin-judge}"))
    cfg = load_models_config(p)
    assert (cfg.mode_of("a"), cfg.mode_of("b"), cfg.mode_of("c")) == ("batch", "sync", "sync")


def test_killed_while_polling_then_a_rerun_resumes_without_resubmitting(server: StandinServer, tmp_path: Path) -> None:
    """kill -9 of a real process polling its batch; the rerun polls the recorded batch, submits nothing."""
    server.batches.configure(complete_after_polls=10**9)  # never ends while the first process polls
    store = tmp_path / "c.sqlite"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests/llm/llm_batch_worker.py"), server.base_url, str(store)],
                            cwd=ROOT, start_new_session=True)
    try:
        # Wait for events (a batch created and polled twice), not for a duration.
        for _ in range(6000):
            if server.batches.stats()["polls"] >= 2 or proc.poll() is not None:
                break
            time.sleep(0.01)
        assert proc.poll() is None and server.batches.stats()["polls"] >= 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    (recorded,) = CallStore(store).batches()
    assert recorded.status == "open" and len(recorded.keys) == 3
    server.batches.configure(complete_after_polls=0)
    with runner(batch_config(server.base_url, "openai"), store) as llm:
        got = llm.run(prompts(3), desc="gen")
    assert all(r.ok for r in got) and {r.batch_id for r in got} == {recorded.batch_id}
    assert server.batches.stats()["created"] == {"openai": 1}  # resumed, never resubmitted
    assert [b.status for b in CallStore(store).batches()] == ["completed"]


def test_cancel_stops_polling_and_keeps_the_batch_recorded(server: StandinServer, tmp_path: Path) -> None:
    server.batches.configure(complete_after_polls=10**9)
    store = tmp_path / "c.sqlite"
    # Real clock here: the cancel comes from another thread, as Ctrl-C does.
    llm = runner(batch_config(server.base_url, "anthropic", batch_poll_s=0.01), store, MonotonicClock())

    def stop_after_polls() -> None:
        while server.batches.stats()["polls"] < 3:
            threading.Event().wait(0.01)
        cancel.cancel()

    t = threading.Thread(target=stop_after_polls, daemon=True)
    t.start()
    try:
        with pytest.raises(cancel.LLMCancelled):
            llm.run(prompts(2), desc="gen")
        polls = server.batches.stats()["polls"]
    finally:
        cancel.reset()
        llm.close()
    t.join(timeout=30)
    (recorded,) = CallStore(store).batches()
    assert recorded.status == "open"
    assert server.batches.stats()["polls"] == polls  # no poll after the cancel


def test_store_migration_adds_batch_tables_to_an_existing_store(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    from pipelines.llm.store.sqlite import MIGRATIONS, SCHEMA_VERSION

    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version, statements in MIGRATIONS[:2]:  # a store made at version 2, before batch mode existed
        for stmt in statements:
            db.execute(stmt)
        db.execute("INSERT INTO schema_version VALUES (?)", (version,))
    db.execute("INSERT INTO calls VALUES ('k1','m','x','openai','{}','{\"text\":\"a\"}',1,2,0,'2026-01-01')")
    db.commit()
    db.close()
    store = CallStore(path)
    assert store.schema_version() == SCHEMA_VERSION >= 4
    assert store.get("k1") is not None  # old rows kept
    store.record_batch("batch_1", "p", "m", {"k2": {"a": 1}})
    assert [(b.batch_id, b.status, b.keys) for b in store.open_batches(["k2"])] == [("batch_1", "open", ["k2"])]
    assert store.batch_materials("batch_1") == {"k2": {"a": 1}}
    store.finish_batch("batch_1", "ended")
    assert store.open_batches(["k2"]) == []
    store.close()


def test_large_submissions_are_split_by_request_count(server: StandinServer, tmp_path: Path) -> None:
    with runner(batch_config(server.base_url, "anthropic", batch_max_requests=2), tmp_path / "c.sqlite") as llm:
        got = llm.run(prompts(5), desc="gen")
    assert all(r.ok for r in got) and server.batches.stats()["created"] == {"anthropic": 3}
    assert sorted(len(b["custom_ids"]) for b in server.batches.stats()["batches"]) == [1, 2, 2]  # submitted at once


def test_anthropic_prefill_is_handled_alike_in_both_modes(server: StandinServer, tmp_path: Path) -> None:
    """structured_output: prefill sends an assistant "{" turn; the reply is the prefill plus its continuation.
    Batch results are read with the prefill recorded in the store's key material (as after a resume)."""
    reqs = [req(f"Give JSON {i}", response_format="json") for i in range(2)]

    def cfg(mode: str) -> ModelsConfig:
        base = batch_config(server.base_url, "anthropic", mode=mode).model_dump()
        base["models"]["m"]["structured_output"] = "prefill"
        return ModelsConfig.model_validate(base)

    with runner(cfg("sync"), tmp_path / "s.sqlite") as llm:
        want = [r.text for r in llm.run(reqs)]
    with runner(cfg("batch"), tmp_path / "b.sqlite") as llm:
        got = [r.text for r in llm.run(reqs)]
    assert server.batches.stats()["created"] == {"anthropic": 1}
    assert got == want and all(t.startswith("{") for t in got)


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_failed_polls_and_downloads_are_retried_and_a_lost_batch_is_resubmitted(
        server: StandinServer, tmp_path: Path, protocol: str) -> None:
    # Two 503s on GETs (a poll, then the poll or download after it): retried on the next poll interval.
    server.batches.configure(complete_after_polls=1, get_faults=[503, 503])
    with runner(batch_config(server.base_url, protocol), tmp_path / "a.sqlite") as llm:
        got = llm.run(prompts(2), desc="gen")
    assert all(r.ok for r in got) and server.batches.stats()["created"] == {protocol: 1}
    # A 404 (the provider no longer knows the batch): closed as lost, its calls go into a new batch.
    server.batches.configure(get_faults=[404])
    with runner(batch_config(server.base_url, protocol), tmp_path / "b.sqlite") as llm:
        got = llm.run(prompts(2), desc="gen")
    assert all(r.ok for r in got) and server.batches.stats()["created"] == {protocol: 3}
    assert [b.status for b in CallStore(tmp_path / "b.sqlite").batches()] == \
        ["lost", {"openai": "completed", "anthropic": "ended"}[protocol]]


def test_a_poll_refused_for_good_fails_the_calls_and_keeps_the_batch_for_the_next_run(
        server: StandinServer, tmp_path: Path) -> None:
    server.batches.configure(complete_after_polls=1, get_faults=[401])
    with runner(batch_config(server.base_url, "openai"), tmp_path / "c.sqlite") as llm:
        got = llm.run(prompts(2), desc="gen")
    assert [r.error_type for r in got] == ["BatchPollFailed"] * 2
    (rec,) = CallStore(tmp_path / "c.sqlite").batches()
    assert rec.status == "open"
    with runner(batch_config(server.base_url, "openai"), tmp_path / "c.sqlite") as llm:
        again = llm.run(prompts(2), desc="gen")
    assert all(r.ok and r.batch_id == rec.batch_id for r in again)
    assert server.batches.stats()["created"] == {"openai": 1}
