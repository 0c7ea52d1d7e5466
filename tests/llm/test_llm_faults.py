"""Every fault kind through LLMRunner and the real SDKs, for both protocols and both transports.

The runner owns retries (SDK max_retries=0), so the stand-in's request log shows exactly one
request per attempt; each test checks the attempts, the outcome and what was stored. Backoff,
cool-downs and deadlines run on a virtual clock (FakeClock): waits are read from it, never timed.
Only the per-attempt timeout is real time (it bounds real I/O), and no test asserts a duration.
"""

from __future__ import annotations

from typing import Any

import pytest
from llm_helpers import FakeClock, req

from pipelines.llm import StandinServer

COMBOS = [
    pytest.param(("openai", "httpx2"), id="openai-httpx2"),
    pytest.param(("anthropic", "httpx2"), id="anthropic-httpx2"),
    pytest.param(("openai", "aiohttp"), id="openai-aiohttp"),
    pytest.param(("anthropic", "aiohttp"), id="anthropic-aiohttp"),
]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=COMBOS)
def mk(request: pytest.FixtureRequest, runner_for: Any, clock: FakeClock) -> Any:
    """A runner for this protocol and transport, on the test's virtual clock unless clock= says otherwise."""
    protocol, transport = request.param

    def make(**kw: Any) -> Any:
        kw.setdefault("clock", clock)
        return runner_for(protocol=protocol, transport=transport, **kw)

    make.protocol = protocol  # type: ignore[attr-defined]
    return make


def run_one(runner: Any, server: StandinServer, faults: list[dict[str, Any]], **req_kw: Any) -> Any:
    server.reset()
    server.script(faults)
    [res] = runner.run([req(**req_kw)])
    return res


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 429, "retry_after": 0.05},
        {"status": 429, "retry_after_ms": 50},
        {"status": 429},
        {"status": 500},
        {"status": 503},
        {"status": 529},
        {"status": 408},
        {"drop": True},
        {"truncate": True},
        {"malformed_json": True},
        {"content": ""},  # empty content
    ],
    ids=lambda f: "-".join(f"{k}={v}" for k, v in f.items()),
)
def test_retryable_fault_then_success(mk: Any, server: StandinServer, fault: dict[str, Any]) -> None:
    runner = mk()
    res = run_one(runner, server, [fault])
    assert res.ok, res
    assert res.attempts == 2
    assert res.text.startswith("## Overview") and res.model_reported == "standin-generic-2026-11"
    log = server.request_log()
    assert len(log) == 2 and log[0]["fault"] == fault and log[1]["fault"] == {}
    assert runner.store.get(res.call_key) is not None


def test_retry_after_is_honoured(mk: Any, server: StandinServer, clock: FakeClock) -> None:
    res = run_one(mk(), server, [{"status": 429, "retry_after": 0.3}])
    assert res.ok and res.attempts == 2 and clock.sleeps == [pytest.approx(0.3)]
    res = run_one(mk(), server, [{"status": 503, "retry_after_ms": 250}], text="other")
    assert res.ok and clock.sleeps[1:] == [pytest.approx(0.25)]


def test_retry_after_is_capped(mk: Any, server: StandinServer, clock: FakeClock) -> None:
    # The SDKs differ here (openai gives up above 120 s, anthropic sleeps for any value); ours caps.
    res = run_one(mk(provider={"retry_after_cap_s": 0.1}), server, [{"status": 429, "retry_after": 600}])
    assert res.ok and res.attempts == 2 and clock.sleeps == [pytest.approx(0.1)]


def test_400_is_not_retried_and_not_stored(mk: Any, server: StandinServer) -> None:
    runner = mk()
    res = run_one(runner, server, [{"status": 400}])
    assert not res.ok and res.attempts == 1
    assert res.error_type == "BadRequestError" and res.error_message.startswith("HTTP 400")
    assert len(server.request_log()) == 1
    assert runner.store.get(res.call_key) is None
    res2 = run_one(runner, server, [])  # errors are never stored: the same request is sent again
    assert res2.ok and len(server.request_log()) == 1


def test_should_retry_header_overrides_status(mk: Any, server: StandinServer) -> None:
    res = run_one(mk(), server, [{"status": 500, "should_retry": False}])
    assert not res.ok and res.attempts == 1
    res = run_one(mk(), server, [{"status": 400, "should_retry": True}], text="again")
    assert res.ok and res.attempts == 2


def test_timeout_then_success(mk: Any, server: StandinServer) -> None:
    res = run_one(mk(provider={"timeout_s": 1.5}), server, [{"hang_s": 30}])
    assert res.ok and res.attempts == 2
    assert [e["fault"] for e in server.request_log()] == [{"hang_s": 30}, {}]


def test_trickling_body_counts_against_the_attempt_timeout(mk: Any, server: StandinServer) -> None:
    # Each piece arrives well within a read timeout; only the per-attempt bound stops it.
    res = run_one(mk(provider={"timeout_s": 0.4, "max_retries": 0}), server, [{"trickle_s": 3}])
    assert not res.ok and res.error_type == "Timeout"
    res = run_one(mk(provider={"timeout_s": 10}), server, [{"trickle_s": 0.3}], text="slow but fine")
    assert res.ok and res.attempts == 1


def test_retries_exhausted(mk: Any, server: StandinServer) -> None:
    runner = mk(provider={"max_retries": 2})
    res = run_one(runner, server, [{"status": 500}] * 5)
    assert not res.ok and res.attempts == 3 and res.error_type == "InternalServerError"
    assert len(server.request_log()) == 3 and len(runner.store) == 0
    assert any("failed after 3 attempt(s): InternalServerError" in line for line in runner.lines)


def test_deadline_bounds_the_whole_call(mk: Any, server: StandinServer, clock: FakeClock) -> None:
    # Retries 3 s apart (virtual) against an 11.5 s deadline: attempts at 0, 3, 6 and 9; a fifth
    # would start after the deadline, so the call ends there (not after max_retries). Each attempt
    # keeps at least 2.5 s of real time for its reply, plenty on a busy machine.
    runner = mk(provider={"timeout_s": 3.0, "deadline_s": 11.5, "max_retries": 20, "retry_after_cap_s": 60})
    res = run_one(runner, server, [{"status": 429, "retry_after": 3}] * 20)
    assert not res.ok and res.error_type == "DeadlineExceeded"
    assert "deadline_s=11.5" in res.error_message and "RateLimitError" in res.error_message
    assert res.attempts == 4 == len(server.request_log())
    assert clock.sleeps == [pytest.approx(3)] * 3


def test_deadline_ends_hanging_attempts(mk: Any, server: StandinServer) -> None:
    runner = mk(provider={"timeout_s": 0.3, "deadline_s": 0.8, "max_retries": 20}, clock=None)  # real time
    res = run_one(runner, server, [{"hang_s": 30}] * 21)
    assert not res.ok and res.error_type == "DeadlineExceeded" and "Timeout" in res.error_message
    # How many attempts fit is a matter of real time; that the deadline, not max_retries, ended the
    # call is not. (A last attempt with a sliver of budget may time out before its request arrives.)
    assert 1 <= len(server.request_log()) <= res.attempts < 21


def test_backoff_that_would_overrun_the_deadline_fails_fast(mk: Any, server: StandinServer, clock: FakeClock) -> None:
    runner = mk(provider={"deadline_s": 30.0, "retry_after_cap_s": 60})
    res = run_one(runner, server, [{"status": 429, "retry_after": 45}])
    assert not res.ok and res.error_type == "DeadlineExceeded" and "RateLimitError" in res.error_message
    assert res.attempts == 1 and clock.sleeps == []  # it did not wait for a retry it could not make


def test_finish_reason_length_is_a_success(mk: Any, server: StandinServer) -> None:
    runner = mk()
    res = run_one(runner, server, [{"content": "cut off mid", "finish_reason": "length"}])
    assert res.ok and res.finish_reason == "length" and res.text == "cut off mid" and res.attempts == 1
    assert runner.store.get(res.call_key).response["finish_reason"] == "length"


def test_empty_content_with_length_is_not_retried(mk: Any, server: StandinServer) -> None:
    res = run_one(mk(), server, [{"content": "", "finish_reason": "length"}])
    assert not res.ok and res.attempts == 1 and res.error_type == "EmptyContent" and "max_tokens" in res.error_message


def test_invalid_judge_reply_is_stored_and_reask_is_a_new_call(mk: Any, server: StandinServer) -> None:
    runner = mk()
    res = run_one(runner, server, [{"content": "not json at all"}], model="judge", response_format="json")
    assert res.ok and res.text == "not json at all"
    again = run_one(runner, server, [], model="judge", response_format="json")
    assert again.from_store and again.text == "not json at all" and server.request_log() == []
    reask = run_one(runner, server, [], model="judge", response_format="json", attempt=1)
    assert reask.ok and not reask.from_store and reask.call_key != res.call_key
    assert reask.text == '{"verdicts": [], "error": "no <rubric> block found"}'


def test_cached_tokens_are_priced_separately(mk: Any, server: StandinServer) -> None:
    res = run_one(mk(), server, [{"cached_tokens": 4}])
    assert res.ok and res.cached_tokens == 4
    expected = ((res.input_tokens - 4) * 2.0 + 4 * 0.5 + res.output_tokens * 8.0) / 1e6
    assert res.cost_usd == pytest.approx(expected)
