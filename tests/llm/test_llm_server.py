"""The stand-in server through the real openai and anthropic SDKs (no runner in between)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import anthropic
import openai
import pytest
from llm_helpers import SECRET, admin

from pipelines.llm import StandinServer, oracle_key


def oa(srv: StandinServer, **kw: object) -> openai.OpenAI:
    return openai.OpenAI(**{"base_url": srv.base_url + "/v1", "api_key": SECRET, "max_retries": 0, "timeout": 30, **kw})  # type: ignore[arg-type]


def an(srv: StandinServer, **kw: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(**{"base_url": srv.base_url, "api_key": SECRET, "max_retries": 0, "timeout": 30, **kw})  # type: ignore[arg-type]


MSG = [{"role": "user", "content": "Summarise the covenant breach risk."}]


def test_openai_shape_reported_model_usage_and_determinism(server: StandinServer) -> None:
    c = oa(server)
    r1 = c.chat.completions.create(model="standin-generic", messages=MSG, max_tokens=50)  # type: ignore[arg-type]
    r2 = c.chat.completions.create(model="standin-generic", messages=MSG, max_tokens=50)  # type: ignore[arg-type]
    assert r1.model == "standin-generic-2026-11"
    assert r1.choices[0].finish_reason == "stop"
    assert r1.choices[0].message.content == r2.choices[0].message.content
    assert r1.id == r2.id and r1.created == r2.created  # no clock in the body
    text = r1.choices[0].message.content or ""
    assert r1.usage is not None and r1.usage.completion_tokens == len(text) // 4 + 1


def test_anthropic_shape_and_gemini_style_path(server: StandinServer) -> None:
    m = an(server).messages.create(model="standin-generic", max_tokens=50, messages=MSG)  # type: ignore[arg-type]
    assert m.model == "standin-generic-2026-11" and m.stop_reason == "end_turn"
    assert m.content[0].type == "text" and m.content[0].text.startswith("## Overview")
    g = openai.OpenAI(base_url=server.base_url + "/v1beta/openai/", api_key="k", max_retries=0)
    g.chat.completions.create(model="standin-generic", messages=MSG, reasoning_effort="low")  # type: ignore[arg-type]
    assert server.request_log()[-1]["path"] == "/v1beta/openai/chat/completions"


def test_accepts_bearer_or_x_api_key_and_never_logs_them(server: StandinServer) -> None:
    oa(server).chat.completions.create(model="standin-generic", messages=MSG)  # type: ignore[arg-type]
    an(server).messages.create(model="standin-generic", max_tokens=5, messages=MSG)  # type: ignore[arg-type]
    body = json.dumps({"model": "standin-generic", "max_tokens": 5, "messages": MSG}).encode()
    r = urllib.request.Request(server.base_url + "/v1/messages", data=body, headers={"x-api-key": SECRET})
    with urllib.request.urlopen(r, timeout=5) as resp:
        assert resp.status == 200
    log = admin(server.base_url, "/_log")["requests"]
    assert len(log) == 3
    assert SECRET not in json.dumps(log)
    assert all("authorization" not in e["headers"] and "x-api-key" not in e["headers"] for e in log)


def test_missing_key_is_401_and_unknown_model_is_404(server: StandinServer) -> None:
    body = json.dumps({"model": "standin-generic", "messages": MSG}).encode()
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(server.base_url + "/v1/chat/completions", data=body), timeout=5)
    assert e.value.code == 401
    with pytest.raises(openai.NotFoundError):
        oa(server).chat.completions.create(model="gpt-4o", messages=MSG)  # type: ignore[arg-type]
    with pytest.raises(anthropic.NotFoundError) as ae:
        an(server).messages.create(model="gpt-4o", max_tokens=5, messages=MSG)  # type: ignore[arg-type]
    assert ae.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_oracle_admin_route_and_partial(server: StandinServer) -> None:
    prompt = "What is duration?"
    ref = "Duration measures price sensitivity to yields. It is expressed in years. Convexity refines it."
    assert admin(server.base_url, "/_oracle", {"entries": {oracle_key(prompt): ref}}) == {"entries": 1}
    msgs = [{"role": "user", "content": prompt + "\n"}]  # stripped before hashing
    r = oa(server).chat.completions.create(model="standin-oracle", messages=msgs)  # type: ignore[arg-type]
    assert r.choices[0].message.content == ref
    m = an(server).messages.create(model="standin-partial", max_tokens=99, messages=msgs)  # type: ignore[arg-type]
    assert m.content[0].text == "Duration measures price sensitivity to yields."  # type: ignore[union-attr]


def test_status_faults_carry_provider_shaped_bodies_and_headers(server: StandinServer) -> None:
    admin(server.base_url, "/_script", {"faults": [{"status": 429, "retry_after": 0.5, "retry_after_ms": 500}, {"status": 529}]})
    with pytest.raises(openai.RateLimitError) as e:
        oa(server).chat.completions.create(model="standin-generic", messages=MSG)  # type: ignore[arg-type]
    assert e.value.response.headers["retry-after"] == "0.5" and e.value.response.headers["retry-after-ms"] == "500"
    assert e.value.body["type"] == "rate_limit_exceeded"  # type: ignore[index]
    with pytest.raises(anthropic.InternalServerError) as ae:
        an(server).messages.create(model="standin-generic", max_tokens=5, messages=MSG)  # type: ignore[arg-type]
    assert ae.value.status_code == 529 and ae.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_body_faults_surface_as_raw_parse_errors(server: StandinServer) -> None:
    server.script([{"truncate": True}, {"malformed_json": True}, {"drop": True}])
    with pytest.raises(json.JSONDecodeError):
        oa(server).chat.completions.create(model="standin-generic", messages=MSG)  # type: ignore[arg-type]
    with pytest.raises(json.JSONDecodeError):
        an(server).messages.create(model="standin-generic", max_tokens=5, messages=MSG)  # type: ignore[arg-type]
    with pytest.raises(openai.APIConnectionError):
        oa(server).chat.completions.create(model="standin-generic", messages=MSG)  # type: ignore[arg-type]


def test_content_finish_reason_and_cached_tokens(server: StandinServer) -> None:
    server.script([{"content": '{"verdicts": [', "finish_reason": "length", "cached_tokens": 3}] * 2)
    r = oa(server).chat.completions.create(model="standin-judge", messages=MSG)  # type: ignore[arg-type]
    assert r.choices[0].message.content == '{"verdicts": [' and r.choices[0].finish_reason == "length"
    assert r.usage.prompt_tokens_details.cached_tokens == 3  # type: ignore[union-attr]
    m = an(server).messages.create(model="standin-judge", max_tokens=5, messages=MSG)  # type: ignore[arg-type]
    assert m.stop_reason == "max_tokens" and m.usage.cache_read_input_tokens == 3


def test_reset_clears_log_and_script_not_oracle(server: StandinServer) -> None:
    server.add_oracle({oracle_key("q"): "A."})
    server.script([{"status": 500}])
    admin(server.base_url, "/_reset", {})
    r = oa(server).chat.completions.create(model="standin-oracle", messages=[{"role": "user", "content": "q"}])
    assert r.choices[0].message.content == "A."  # no 500 left in the script, oracle kept
    assert len(server.request_log()) == 1


def test_hang_is_interrupted_by_stop() -> None:
    import threading

    srv = StandinServer().start()
    srv.script([{"hang_s": 600}])
    c = oa(srv, timeout=600)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            c.chat.completions.create(model="standin-generic", messages=MSG)  # type: ignore[arg-type]
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    th = threading.Thread(target=call)
    th.start()
    for _ in range(6000):  # until the server has the request (counted, not timed)
        if srv.request_log():
            break
        th.join(0.01)
    assert srv.request_log()
    srv.stop()
    th.join(120)  # far less than the 600 s hang: only stop() can have ended it
    assert not th.is_alive()
    assert errors and isinstance(errors[0], openai.APIConnectionError)


def test_cli_prints_base_url_and_serves() -> None:
    import subprocess
    import sys

    from pipelines.paths import PROJECT_ROOT

    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.llm", "standin", "--latency-s", "0"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "/_health", timeout=5) as resp:
            assert json.loads(resp.read()) == {"ok": True}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.stderr is not None and "Warning" not in proc.stderr.read()


def test_unauthenticated_requests_do_not_consume_faults_and_bad_bodies_are_400(server: StandinServer) -> None:
    server.script([{"status": 503}])
    body = json.dumps({"model": "standin-generic", "messages": MSG}).encode()
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(server.base_url + "/v1/chat/completions", data=body), timeout=5)
    assert e.value.code == 401
    with pytest.raises(openai.InternalServerError):  # the 503 is still there for the next real call
        oa(server).chat.completions.create(model="standin-generic", messages=MSG)  # type: ignore[arg-type]
    for raw in (b"[1, 2]", b"not json"):
        r = urllib.request.Request(server.base_url + "/v1/messages", data=raw, headers={"x-api-key": "k"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(r, timeout=5)
        assert e.value.code == 400 and json.loads(e.value.read())["error"]["type"] == "invalid_request_error"
