"""LLMRunner: store hits, dedup, order, limits, oracle wiring, secrets, estimates, parameters."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from llm_helpers import SECRET, SECRET_ENV, FakeClock, make_config, req

from pipelines.llm import ConfigError, LLMRequest, LLMRunner, StandinServer, load_models_config
from pipelines.llm.limits import ProviderLimiter
from pipelines.paths import PROJECT_ROOT


def test_second_run_is_served_from_the_store(runner_for: Any, server: StandinServer) -> None:
    runner = runner_for()
    reqs = [req(f"Question {i} about credit spreads") for i in range(5)]
    first = runner.run(reqs, desc="gen")
    assert all(r.ok and not r.from_store and r.attempts == 1 for r in first)
    assert len(server.request_log()) == 5
    server.reset()
    second = runner.run(reqs, desc="gen")
    assert server.request_log() == []  # zero requests sent
    assert all(r.from_store and r.attempts == 0 for r in second)
    assert [r.text for r in second] == [r.text for r in first]
    assert [r.cost_usd for r in second] == [r.cost_usd for r in first]
    assert "gen: 5 requests: 0 to send, 5 from store, 0 duplicates" in runner.lines
    # ...and from a brand-new runner on the same store file (another process, a later day)
    again = runner_for()
    assert all(r.from_store for r in again.run(reqs)) and server.request_log() == []


def test_duplicates_in_a_batch_are_sent_once_and_keep_their_tags(runner_for: Any, server: StandinServer) -> None:
    runner = runner_for()
    a1, a2, b = req("same", tags={"task_id": "t1"}), req("same", tags={"task_id": "t2"}), req("different")
    res = runner.run([a1, a2, b])
    assert len(server.request_log()) == 2
    assert res[0].text == res[1].text and res[0].call_key == res[1].call_key
    assert res[0].tags == {"task_id": "t1"} and res[1].tags == {"task_id": "t2"}
    assert runner.estimate([a1, a2, b]).store_hits == 3


def test_results_keep_request_order_whatever_finishes_first(runner_for: Any, server: StandinServer) -> None:
    runner = runner_for(model_id="standin-oracle")
    prompts = [f"prompt {i}" for i in range(6)]
    runner.register_oracle({p: f"answer {i}." for i, p in enumerate(prompts)})
    server.script([{"delay_s": 0.3}, {"delay_s": 0.2}])  # the first two finish last
    res = runner.run([req(p) for p in prompts])
    assert [r.text for r in res] == [f"answer {i}." for i in range(6)]


def test_requests_per_minute_spaces_calls(runner_for: Any, server: StandinServer) -> None:
    clock = FakeClock()
    runner = runner_for(provider={"requests_per_minute": 600, "max_concurrency": 8}, clock=clock)  # one per 0.1 s
    t0 = clock.now()
    res = runner.run([req(f"q{i}") for i in range(6)])
    assert all(r.ok for r in res) and len(server.request_log()) == 6
    # Six calls admitted together: the first goes at once, the others wait 0.1 s more each.
    assert sorted(clock.sleeps) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert clock.now() - t0 == pytest.approx(0.5)


def test_rate_state_persists_across_batches(runner_for: Any, server: StandinServer) -> None:
    clock = FakeClock()
    runner = runner_for(provider={"requests_per_minute": 300}, clock=clock)  # one per 0.2 s
    runner.run([req("a")])
    runner.run([req("b")])
    assert len(server.request_log()) == 2
    assert clock.sleeps == [pytest.approx(0.2)]  # the second batch waited for the first batch's slot


def test_token_bucket_arithmetic() -> None:
    cfg = make_config("http://127.0.0.1:1", provider={"tokens_per_minute": 600})  # 10 tokens/s
    clock = FakeClock()
    lim = ProviderLimiter(cfg.providers["p"], clock)
    assert lim._reserve_rate(500) == 0  # the bucket starts full (one minute of budget)
    assert lim._reserve_rate(500) == pytest.approx(40)  # 400 short at 10 tokens/s
    lim.settle_tokens(estimated=500, actual=100)  # the first call used less than estimated
    assert lim._reserve_rate(0) == 0
    clock.t += 30  # 30 s later the bucket has 300 tokens again
    assert lim._reserve_rate(300) == 0 and lim._reserve_rate(10) == pytest.approx(1)


def test_429_retry_after_pauses_the_whole_provider(runner_for: Any, server: StandinServer) -> None:
    clock = FakeClock()
    runner = runner_for(provider={"max_concurrency": 1}, clock=clock)
    server.script([{"status": 429, "retry_after": 0.4}])
    res = runner.run([req("first"), req("second")])
    assert all(r.ok for r in res)
    log = server.request_log()
    assert len(log) == 3 and log[0]["fault"]["status"] == 429
    # The first call backs off for the retry-after; the second, which never saw a 429, waits out
    # the provider's cool-down too.
    assert clock.sleeps == [pytest.approx(0.4), pytest.approx(0.4)]


def test_api_key_never_leaks(tmp_path: Path, server: StandinServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    cfg = make_config(server.base_url, provider={"api_key_env": SECRET_ENV, "max_concurrency": 1, "max_retries": 2})
    lines: list[str] = []
    store = tmp_path / "calls.sqlite"
    with LLMRunner(cfg, store, log=lines.append, progress=False) as runner:
        server.script([{"status": 400}])
        res = runner.run([req("bad")])
        server.script([{"status": 500}] * 3)
        res += runner.run([req("flaky")])
        res += runner.run([req("good"), req("judge me", model="judge")])
        assert [r.ok for r in res] == [False, False, True, True]
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("calls.sqlite"))
    assert len(blob) > 0 and SECRET.encode() not in blob and SECRET_ENV.encode() not in blob
    assert lines and all(SECRET not in line for line in lines)
    assert all(SECRET not in r.model_dump_json() for r in res)
    assert SECRET not in json.dumps(server.request_log())


def test_secret_in_an_error_body_is_redacted(runner_for: Any, server: StandinServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # A provider that echoes the key in an error message must not get it into results or logs.
    monkeypatch.setenv(SECRET_ENV, SECRET)
    runner = runner_for(provider={"api_key_env": SECRET_ENV, "max_retries": 0})
    server.script([{"status": 401, "message": f"invalid key {SECRET}"}])
    [res] = runner.run([req()])
    assert not res.ok and "[redacted]" in res.error_message and SECRET not in res.error_message
    assert all(SECRET not in line for line in runner.lines)


def test_missing_key_variable_fails_before_sending(runner_for: Any, server: StandinServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    runner = runner_for(provider={"api_key_env": SECRET_ENV})
    with pytest.raises(ConfigError, match=SECRET_ENV):
        runner.run([req()])
    assert server.request_log() == []
    assert runner.estimate([req()]).calls_needed == 1  # a dry run needs no key


def test_estimate_counts(runner_for: Any) -> None:
    runner = runner_for(model={"expected_output_tokens": 100})
    runner.run([req("already done")])
    batch = [req("already done"), req("new one"), req("new one", tags={"x": "y"}), req("judge", model="judge")]
    est = runner.estimate(batch)
    assert (est.requests, est.calls_needed, est.store_hits, est.duplicates) == (4, 2, 1, 1)
    m = est.per_model["m"]
    assert m.calls == 1 and m.store_hits == 1 and m.output_tokens == 100
    assert m.input_tokens == len("new one") // 4 + 1
    assert m.cost_usd == pytest.approx((m.input_tokens * 2.0 + 100 * 8.0) / 1e6)
    assert est.per_model["judge"].output_tokens == 512  # no expected_output_tokens: max_tokens
    assert est.cost_usd == pytest.approx(sum(e.cost_usd for e in est.per_model.values()))
    assert {row["model"] for row in est.as_rows()} == {"m", "judge"}


def test_progress_log_lines_and_bar(runner_for: Any, capsys: pytest.CaptureFixture[str]) -> None:
    runner = runner_for()
    runner._progress = True  # the fixture turns the bar off; exercise it here
    runner.run([req(f"q{i}") for i in range(20)], desc="generations[m]")
    done = [line for line in runner.lines if "done," in line]
    assert done[-1] == "generations[m]: 20/20 done, 0 from store, 0 errors"
    assert 5 <= len(done) <= 11  # about every 10%
    assert "generations[m]" in capsys.readouterr().err  # the rich bar went to stderr


def test_run_works_inside_a_running_event_loop(runner_for: Any) -> None:
    runner = runner_for()

    async def notebook_cell() -> list[Any]:
        return runner.run([req("from a running loop")])

    assert asyncio.run(notebook_cell())[0].ok

    async def async_caller() -> list[Any]:
        return await runner.arun([req("awaited from another loop")])

    assert asyncio.run(async_caller())[0].ok


def test_default_config_end_to_end_oracle_partial_generic_judge(tmp_path: Path) -> None:
    cfg = load_models_config(PROJECT_ROOT / "models.yaml")
    prompt = "Explain why the sky is blue."
    reference = (
        "Sunlight is scattered by air molecules through Rayleigh scattering. "
        "Shorter wavelengths such as blue scatter far more strongly than red. "
        "At sunset the light path is longer, so the remaining light looks red. "
        "Violet is scattered even more, but our eyes are less sensitive to it."
    )
    rubric = [
        {"id": "c1", "criterion": "Names Rayleigh scattering by air molecules", "polarity": "requirement"},
        {"id": "c2", "criterion": "Shorter blue wavelengths scatter more strongly than red", "polarity": "requirement"},
        {"id": "c3", "criterion": "Explains red sunsets by the longer light path", "polarity": "requirement"},
        {"id": "c4", "criterion": "Mentions violet and eye sensitivity", "polarity": "requirement"},
        {"id": "c5", "criterion": "Must not claim the sky reflects the ocean", "polarity": "must_not"},
    ]
    with LLMRunner(cfg, tmp_path / "calls.sqlite", progress=False) as runner:
        runner.register_oracle({prompt: reference})
        gens = runner.run([req(prompt, model=m, tags={"role": "candidate"}) for m in cfg.candidates], desc="generations")
        assert gens[0].text == reference and gens[0].model_reported == "standin-oracle-2026-11"
        assert reference.startswith(gens[1].text) and len(gens[1].text) < len(reference)  # via anthropic protocol
        assert gens[2].text.startswith("## Overview")
        judge_reqs = [
            req(f"<rubric>\n{json.dumps(rubric)}\n</rubric>\n<candidate_response_c0ffee>{g.text}</candidate_response_c0ffee>",
                model=cfg.judge, response_format="json", tags={"role": "judge"})
            for g in gens
        ]
        met = [sum(v["verdict"] == "met" for v in json.loads(j.text)["verdicts"]) for j in runner.run(judge_reqs)]
    assert met[0] == 5 and met[0] > met[1] > met[2], met
    assert runner.standin is None  # stopped on exit


def test_register_oracle_before_start_and_external_standin(tmp_path: Path, server: StandinServer) -> None:
    # A stand-in provider with its own base_url: no built-in server; oracle entries go over HTTP.
    cfg = make_config(server.base_url, model_id="standin-oracle")
    runner = LLMRunner(cfg, tmp_path / "c.sqlite", progress=False)
    assert runner.register_oracle({"Q?": "A."}) == 1
    with runner:
        assert runner.standin is None
        assert runner.run([req("Q?")])[0].text == "A."
    built_in = LLMRunner(make_config(None, model_id="standin-oracle"), tmp_path / "d.sqlite", progress=False)
    built_in.register_oracle({"Q?": "B."})  # registered before the server exists
    with built_in:
        assert built_in.standin is not None
        assert built_in.run([req("Q?")])[0].text == "B."


def test_openai_parameter_mapping(runner_for: Any, server: StandinServer) -> None:
    runner_for(model={"temperature": 0.3, "top_p": 0.9, "extra_params": {"seed": 7}}).run(
        [req("plain", response_format="json", system="Be brief.")]
    )
    p = server.request_log()[0]["params"]
    assert p["temperature"] == 0.3 and p["top_p"] == 0.9 and p["seed"] == 7 and p["max_tokens"] == 256
    assert p["response_format"] == {"type": "json_object"} and "max_completion_tokens" not in p


def test_openai_reasoning_model_parameters(runner_for: Any, server: StandinServer) -> None:
    runner_for(model={"reasoning_effort": "high", "temperature": None, "max_tokens": 4000}).run([req()])
    p = server.request_log()[0]["params"]
    assert p["reasoning_effort"] == "high" and p["max_completion_tokens"] == 4000
    assert "max_tokens" not in p and "temperature" not in p


def test_anthropic_parameter_mapping(runner_for: Any, server: StandinServer) -> None:
    runner_for(protocol="anthropic", model={"temperature": 0.2, "top_p": 0.8, "max_tokens": 64000}).run(
        [req("big budget", system="Be brief.")]
    )  # 64k non-streaming would make the SDK refuse ("Streaming is required") without our timeout
    p = server.request_log()[0]["params"]
    assert p["temperature"] == 0.2 and p["top_p"] == 0.8 and p["max_tokens"] == 64000 and "thinking" not in p
    server.reset()
    runner_for(protocol="anthropic", model={"temperature": 0.2, "reasoning_effort": "medium", "max_tokens": 6000}).run([req()])
    p = server.request_log()[0]["params"]
    assert p["thinking"] == {"type": "enabled", "budget_tokens": 5999} and "temperature" not in p


def test_close_is_idempotent_and_stops_the_server(tmp_path: Path) -> None:
    import urllib.error
    import urllib.request

    runner = LLMRunner(make_config(None), tmp_path / "s.sqlite", progress=False).start()
    assert runner.standin is not None
    url = runner.standin.base_url
    runner.run([req()])
    runner.close()
    runner.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/_health", timeout=2)


def test_unknown_model_name_is_a_config_error(runner_for: Any) -> None:
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        runner_for().run([LLMRequest(model="nope", messages=[{"role": "user", "content": "x"}], template_hash="t")])


def test_waiting_for_a_slot_to_retry_counts_against_the_deadline(runner_for: Any, server: StandinServer) -> None:
    runner = runner_for(provider={"max_concurrency": 1, "timeout_s": 1.0, "deadline_s": 1.0})
    # A's first attempt uses 0.7 s of its 1 s deadline and fails; B then holds the only slot, hanging.
    server.script([{"status": 500, "delay_s": 0.7}, {"hang_s": 30}])
    a, b = runner.run([req("A"), req("B")])
    assert not a.ok and a.error_type == "DeadlineExceeded" and "InternalServerError" in a.error_message
    assert a.attempts == 1 and not b.ok and len(server.request_log()) == 2
    # A gave up while still queued behind B (its deadline passed 0.7 s before B's did): its failure is
    # logged first. Without the deadline on the queue, A would wait for B's slot and fail after B.
    failed = [line for line in runner.lines if "failed after" in line]
    assert len(failed) == 2 and "InternalServerError" in failed[0] and "InternalServerError" not in failed[1]


def test_empty_batch(runner_for: Any, server: StandinServer) -> None:
    runner = runner_for()
    assert runner.run([]) == [] and server.request_log() == []
    assert runner.estimate([]).calls_needed == 0
