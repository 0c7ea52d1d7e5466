"""Call keys and the SQLite call store."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from llm_helpers import make_config, req
from llm_store_worker import write_rows

from pipelines.llm import CallStore, LLMRequest, call_key, key_material

CFG = make_config("http://127.0.0.1:1")


def key(r: LLMRequest, cfg=CFG) -> str:  # type: ignore[no-untyped-def]
    return call_key(r, cfg)


def test_key_is_stable_and_hex() -> None:
    k = key(req())
    assert k == key(req()) and len(k) == 64 and int(k, 16) >= 0


@pytest.mark.parametrize(
    "changed",
    [
        req(text="What drives bond prices? "),
        req(system="You are an analyst."),
        req(template_hash="tpl-2"),
        req(replicate=1),
        req(attempt=1),
        req(response_format="json"),
        LLMRequest(model="m", template_hash="tpl-1", messages=[
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
            {"role": "user", "content": "What drives bond prices?"}]),
    ],
    ids=["message", "system", "template_hash", "replicate", "attempt", "response_format", "history"],
)
def test_request_changes_change_the_key(changed: LLMRequest) -> None:
    assert key(changed) != key(req())


@pytest.mark.parametrize(
    "model_change",
    [{"temperature": 0.7}, {"top_p": 0.9}, {"max_tokens": 999}, {"reasoning_effort": "low"},
     {"extra_params": {"seed": 7}}, {"model_id": "standin-oracle"}],
    ids=lambda d: next(iter(d)),
)
def test_model_param_changes_change_the_key(model_change: dict) -> None:  # type: ignore[type-arg]
    assert key(req(), make_config("http://127.0.0.1:1", model=model_change)) != key(req())


def test_provider_identity_is_in_the_key_but_not_operational_settings() -> None:
    assert key(req(), make_config("http://127.0.0.1:2")) != key(req())  # another endpoint
    assert key(req(), make_config("http://127.0.0.1:1", protocol="anthropic")) != key(req())
    same = make_config(
        "http://127.0.0.1:1",
        provider={"timeout_s": 9, "deadline_s": 99, "max_retries": 0, "max_concurrency": 3, "requests_per_minute": 5},
        model={"price_input_per_mtok": 99.0, "expected_output_tokens": 5},
    )
    assert key(req(), same) == key(req())


def test_tags_and_config_name_are_not_in_the_key() -> None:
    assert key(req(tags={"task_id": "t1", "role": "candidate"})) == key(req(tags={"task_id": "t2"}))
    cfg = make_config("http://127.0.0.1:1")
    renamed = cfg.model_copy(update={"models": {**cfg.models, "alias": cfg.models["m"]}})
    assert call_key(req(model="alias"), renamed) == key(req())


def test_key_material_shows_what_is_hashed_and_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XPB_KEY", "sk-test-SECRET123")
    cfg = make_config("http://127.0.0.1:1", provider={"api_key_env": "XPB_KEY"})
    m = key_material(req(tags={"role": "x"}), cfg)
    assert set(m) == {"schema", "provider", "model_id", "params", "system", "messages", "response_format",
                      "template_hash", "replicate", "attempt"}
    assert m["provider"] == {"kind": "standin", "protocol": "openai", "base_url": "http://127.0.0.1:1/v1"}
    assert "SECRET" not in str(m) and "XPB_KEY" not in str(m) and "tags" not in m


def test_builtin_standin_key_does_not_depend_on_the_port() -> None:
    assert key_material(req(), make_config(None))["provider"]["base_url"] is None


def test_put_get_stats_and_first_writer_wins(tmp_path: Path) -> None:
    with CallStore(tmp_path / "s.sqlite") as store:
        assert store.get("k1") is None
        request = {"model_id": "x", "provider": {"kind": "standin"}}
        assert store.put("k1", "m", request, {"text": "a", "usage": {"input_tokens": 3, "output_tokens": 4}})
        assert not store.put("k1", "m", request, {"text": "b", "usage": {}})
        got = store.get("k1")
        assert got is not None and got.response["text"] == "a" and got.request == request and got.model == "m"
        store.put("k2", "other", request, {"text": "c", "usage": {"input_tokens": 1, "output_tokens": 1}})
        s = store.stats()
        assert s["calls"] == 2 and s["input_tokens"] == 4 and s["per_model"]["m"]["output_tokens"] == 4
        assert set(store.get_many(["k1", "k2", "k3"])) == {"k1", "k2"}
        assert len(store) == 2 and [c.call_key for c in store] == ["k1", "k2"]
    db = sqlite3.connect(tmp_path / "s.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_get_many_beyond_the_parameter_limit(tmp_path: Path) -> None:
    with CallStore(tmp_path / "s.sqlite") as store:
        rows = [(f"k{i}", "m", {"i": i}, {"text": str(i)}) for i in range(1200)]
        assert store.put_many(rows) == 1200
        assert len(store.get_many([f"k{i}" for i in range(0, 1300)])) == 1200
        assert len(store.contains_many([f"k{i}" for i in range(1190, 1210)])) == 10


def test_concurrent_writer_processes(tmp_path: Path) -> None:
    import time

    path = str(tmp_path / "shared.sqlite")
    workers, n, shared = 4, 400, 100
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        start_at = time.time() + 1.5  # after every worker has started: the writes really overlap
        new = pool.starmap(write_rows, [(path, w, n, shared, start_at) for w in range(workers)])
    with CallStore(path) as store:
        assert len(store) == shared + workers * (n - shared)
        assert sum(new) == len(store)  # every key inserted exactly once; duplicates ignored
        winner = store.get("shared-0")
        assert winner is not None and winner.response["text"].startswith("from worker ")


def test_concurrent_writer_threads(tmp_path: Path) -> None:
    import threading

    store = CallStore(tmp_path / "t.sqlite")
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(100):
                store.put(f"t{t}-{i}", "m", {}, {"text": "x"})
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and len(store) == 600
    store.close()
