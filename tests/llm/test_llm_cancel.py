"""The cancel switch (Ctrl-C in the CLI): after it, no request leaves; finished calls stay in the store."""

from __future__ import annotations

import threading
import time

import pytest
from llm_helpers import req

from pipelines.llm import cancel
from pipelines.llm.cancel import LLMCancelled


@pytest.fixture(autouse=True)
def fresh_switch():
    cancel.reset()
    yield
    cancel.reset()


def model_requests(server) -> list[dict]:
    return [e for e in server.request_log() if "model" in e]


def test_after_a_cancel_a_batch_sends_nothing(runner_for, server):
    runner = runner_for()
    cancel.cancel()
    with pytest.raises(LLMCancelled):
        runner.run([req(f"question {i}") for i in range(3)])
    assert model_requests(server) == []
    cancel.reset()
    assert all(r.ok for r in runner.run([req("question 0")]))  # the switch, not the runner, was off


def test_a_cancel_mid_batch_keeps_what_finished_and_sends_nothing_more(runner_for, server, store_path):
    runner = runner_for(provider={"max_concurrency": 1, "timeout_s": 120, "deadline_s": 300})
    server.script([{}, {"hang_s": 120}])  # the first call is answered, the second never is
    outcome: list[BaseException | None] = []

    def batch() -> None:
        try:
            runner.run([req(f"question {i}") for i in range(4)])
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    t = threading.Thread(target=batch)
    t.start()
    end = time.monotonic() + 60
    while not (len(model_requests(server)) == 2 and runner.store.contains_many([runner.call_key(req("question 0"))])):
        assert time.monotonic() < end, "the first call was never stored"
        time.sleep(0.02)
    cancel.cancel()
    t.join(timeout=60)
    assert not t.is_alive() and isinstance(outcome[0], LLMCancelled)
    assert len(model_requests(server)) == 2  # questions 2 and 3 were never sent
    assert runner.store.contains_many([runner.call_key(req(f"question {i}")) for i in range(4)]) == {
        runner.call_key(req("question 0"))}
