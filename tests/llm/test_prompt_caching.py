"""Provider prompt caching through the real SDKs against the stand-in: OpenAI-style automatic prefix
caching, Anthropic-style caching up to a cache_control breakpoint, and usage rows that keep uncached,
cache-read, cache-write and output tokens apart and price each at its own rate."""

from __future__ import annotations

from typing import Any

import pytest
from llm_helpers import req

from pipelines.core.judge_prompt import WorkedExample
from pipelines.core.judging import JudgeJob, judge_request
from pipelines.llm import StandinServer
from pipelines.llm.prompt_cache import ANTHROPIC_MIN_TOKENS, OPENAI_MIN_TOKENS, OPENAI_STEP
from pipelines.core.submission import Submission
from tests.pipeline.helpers import anchored

PRICES = {"price_input_per_mtok": 2.0, "price_output_per_mtok": 8.0, "input_cached_per_mtok": 0.5,
          "cache_write_per_mtok": 2.5}
SHARED = "Shared context about credit spreads and duration. " * 120  # ~6,000 characters, ~1,500 tokens


def test_openai_caches_a_repeated_prefix_in_128_token_steps(runner_for: Any, server: StandinServer) -> None:
    runner = runner_for(model=PRICES)
    first, second, short = runner.run([req(SHARED + "Question one?")])[0], \
        runner.run([req(SHARED + "A different question two?")])[0], runner.run([req("Short question?")])[0]
    assert first.ok and first.cached_tokens == 0 and first.cache_write_tokens == 0
    shared_tokens = len(SHARED) // 4
    # The longest cached 128-token step inside the shared text, at least 1,024 tokens.
    assert second.cached_tokens >= OPENAI_MIN_TOKENS and second.cached_tokens % OPENAI_STEP == 0
    assert shared_tokens - OPENAI_STEP < second.cached_tokens <= shared_tokens + 2
    assert short.cached_tokens == 0  # below 1,024 tokens nothing is cached
    expected = ((second.input_tokens - second.cached_tokens) * 2.0 + second.cached_tokens * 0.5
                + second.output_tokens * 8.0) / 1e6
    assert second.cost_usd == pytest.approx(expected)
    # The store keeps the split: a rerun from the store prices it the same way.
    again = runner.run([req(SHARED + "A different question two?")])[0]
    assert again.from_store and again.cached_tokens == second.cached_tokens and again.cost_usd == second.cost_usd


def test_anthropic_caches_only_up_to_the_cache_control_breakpoint(runner_for: Any, server: StandinServer) -> None:
    runner = runner_for(protocol="anthropic", model=PRICES)
    n = len(SHARED)
    marked = [runner.run([req(SHARED + q, cache_prefix_chars=n)])[0] for q in ("Question one?", "Question two?")]
    # The first call writes the prefix up to the breakpoint, the second reads it.
    assert marked[0].cache_write_tokens >= ANTHROPIC_MIN_TOKENS and marked[0].cached_tokens == 0
    assert marked[1].cached_tokens == marked[0].cache_write_tokens and marked[1].cache_write_tokens == 0
    # Without a breakpoint nothing is cached, however long the repeated prefix.
    plain = [runner.run([req(SHARED + q)])[0] for q in ("Question three?", "Question four?")]
    assert all(r.cached_tokens == 0 and r.cache_write_tokens == 0 for r in plain)
    # The body on the wire marks the prefix as an ephemeral cache_control block (the SDK sent it).
    body_msgs = [e for e in server.request_log() if e["protocol"] == "anthropic"]
    assert len(body_msgs) == 4
    w = marked[0]
    uncached = w.input_tokens - w.cache_write_tokens
    assert w.cost_usd == pytest.approx((uncached * 2.0 + w.cache_write_tokens * 2.5 + w.output_tokens * 8.0) / 1e6)
    rows = {r.call_key: r.response["usage"] for r in runner.store}
    assert rows[w.call_key]["cache_write_tokens"] == w.cache_write_tokens
    assert rows[marked[1].call_key]["cached_tokens"] == marked[1].cached_tokens
    stats = runner.store.per_model()["m"]
    assert stats["cache_write_tokens"] == w.cache_write_tokens and stats["cached_tokens"] == marked[1].cached_tokens


TASK = Submission.model_validate(anchored("t-001", "Finance", "covenant", "e1", miss=3))


def _judge_job(answer: str, model: str) -> JudgeJob:
    return JudgeJob(("t-001", model, "0"), TASK, answer, WorkedExample(TASK, TASK.anchor), "shotjudge",
                    {"task_id": "t-001"})


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_judge_prompts_of_one_task_share_a_cached_prefix(runner_for: Any, server: StandinServer,
                                                         protocol: str) -> None:
    runner = runner_for(protocol=protocol, model_id="standin-judge", model=PRICES)
    answers = [("Answer of candidate A. " * 40, "A"), ("Candidate B answers differently. " * 30, "B")]
    reqs = [judge_request(_judge_job(a, m), list(TASK.rubric), "m", "judge-test")
            for a, m in answers]
    prefix = reqs[0].cache_prefix_chars
    assert prefix == reqs[1].cache_prefix_chars and reqs[0].last_user_text[:prefix] == reqs[1].last_user_text[:prefix]
    first = runner.run([reqs[0]])[0]
    second = runner.run([reqs[1]])[0]
    assert first.ok and second.ok and first.cached_tokens == 0
    # Everything before the answer (system, task, worked example, rubric, instructions) is read from the
    # cache; the answer and what follows it are not.
    prefix_tokens = (len(reqs[0].system or "") + prefix) // 4
    assert second.cached_tokens > 0.8 * prefix_tokens
    assert second.cached_tokens <= prefix_tokens + 8
    assert second.input_tokens - second.cached_tokens >= len(answers[1][0]) // 4
