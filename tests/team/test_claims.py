"""Claims on in-flight calls: two workers asking for the same calls at the same time pay once."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.llm.runner import LLMRunner
from pipelines.llm.standin_server import StandinServer
from pipelines.llm.store import ClaimResult, SQLiteCallStore, open_store
from tests.team.claims_worker import pay, requests, standin_config

PROMPTS = [f"What drives the price of asset {i}?" for i in range(12)]


@pytest.fixture
def server() -> Iterator[StandinServer]:
    # A latency long enough that the two workers' calls are in flight together.
    with StandinServer(latency_s=0.5) as srv:
        yield srv


def model_requests(server: StandinServer) -> list[dict]:
    return server.request_log()  # the server logs model calls only


@pytest.mark.timeout(300)
def test_two_workers_asking_at_once_pay_once(store_url: str, server: StandinServer) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Manager().Barrier(2)
    with ctx.Pool(2) as pool:
        jobs = [pool.apply_async(pay, (store_url, server.base_url, PROMPTS, barrier)) for _ in range(2)]
        a, b = (j.get(timeout=240) for j in jobs)
    assert len(model_requests(server)) == len(PROMPTS)  # every call paid exactly once
    assert all(ok for ok, _, _ in a + b)
    assert [t for _, t, _ in a] == [t for _, t, _ in b]  # both got the same answers
    sent = sum(not fs for _, _, fs in a + b)
    assert sent == len(PROMPTS)  # each call was sent by one worker and read from the store by the other


class SignallingStore(SQLiteCallStore):
    """The real SQLite store, which also says when the runner has tried to claim."""

    claimed = threading.Event()

    def claim(self, keys, owner, ttl_s) -> ClaimResult:  # noqa: ANN001
        out = super().claim(keys, owner, ttl_s)
        if out.held:
            self.claimed.set()
        return out


@pytest.mark.timeout(120)
def test_a_waiter_never_sends_a_call_another_live_worker_holds(tmp_path: Path, server: StandinServer) -> None:
    store = SignallingStore(tmp_path / "calls.sqlite")
    (req,) = requests(["held elsewhere"])
    with LLMRunner(standin_config(server.base_url), store, progress=False) as runner:
        key = runner.call_key(req)
        assert store.claim([key], "another-worker", ttl_s=3600).won == {key}
        out: list = []
        t = threading.Thread(target=lambda: out.extend(runner.run([req])))
        t.start()
        assert store.claimed.wait(60)  # the runner found the claim and is waiting
        store.put(key, "m", runner.key_material(req), {"text": "paid by the other worker", "usage": {}})
        t.join(60)
    assert out and out[0].ok and out[0].from_store and out[0].text == "paid by the other worker"
    assert model_requests(server) == []


@pytest.mark.timeout(120)
def test_a_dead_workers_claim_is_taken_over_after_its_ttl(store_url: str, server: StandinServer) -> None:
    (req,) = requests(["claimed by a worker that died"])
    with LLMRunner(standin_config(server.base_url), store_url, progress=False) as runner:
        key = runner.call_key(req)
        with open_store(store_url) as other:
            assert other.claim([key], "dead-worker", ttl_s=1.0).won == {key}  # and never renewed
        (res,) = runner.run([req])
    assert res.ok and not res.from_store
    assert len(model_requests(server)) == 1
    with open_store(store_url) as s:
        assert s.get(key) is not None and s.claim([key], "x", 60).done == {key}  # stored, claim gone
