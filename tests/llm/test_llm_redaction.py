"""Keys of every configured provider are redacted, even providers this run never built a client for."""

from __future__ import annotations

from pathlib import Path

import pytest
from llm_helpers import SECRET, SECRET_ENV, make_config, req

from pipelines.llm import LLMRunner, ModelsConfig, StandinServer
from pipelines.llm.redact import configured_secrets

OTHER_ENV, OTHER_KEY = "XPB_TEST_OTHER_PROVIDER_KEY", "sk-other-provider-7f3a9c"


def two_provider_config(base_url: str) -> ModelsConfig:
    """Provider "p" (the stand-in server, used) and "q" (configured, never called in the test)."""
    data = make_config(base_url, provider={"api_key_env": SECRET_ENV, "max_retries": 0}).model_dump(mode="json")
    data["providers"]["q"] = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key_env": OTHER_ENV}
    data["models"]["q-model"] = {"provider": "q", "model_id": "some-model"}
    return ModelsConfig.model_validate(data)


def test_another_providers_key_echoed_in_an_error_is_redacted(
        tmp_path: Path, server: StandinServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv(OTHER_ENV, OTHER_KEY)
    lines: list[str] = []
    with LLMRunner(two_provider_config(server.base_url), tmp_path / "calls.sqlite", log=lines.append,
                   progress=False) as runner:
        server.script([{"status": 400, "message": f"gateway rejected key {OTHER_KEY} (expected {SECRET})"}])
        [res] = runner.run([req("q1")])
    assert len(server.request_log()) == 1  # the fault really went through the SDK and back
    assert not res.ok and res.error_message.count("[redacted]") == 2
    assert OTHER_KEY not in res.model_dump_json() and SECRET not in res.model_dump_json()
    assert any("[redacted]" in line for line in lines)
    assert all(OTHER_KEY not in line and SECRET not in line for line in lines)


def test_configured_secrets_reads_every_set_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = two_provider_config("http://127.0.0.1:1")
    assert configured_secrets(cfg, {SECRET_ENV: SECRET, OTHER_ENV: f" {OTHER_KEY}\n"}) == {
        SECRET, OTHER_KEY, f" {OTHER_KEY}\n"}
    assert configured_secrets(cfg, {SECRET_ENV: "1"}) == frozenset()  # too short to redact safely
