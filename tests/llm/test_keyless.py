"""Keyless providers: a server that takes no key (llama.cpp, vLLM, a local proxy) is declared so,
for the anthropic kind too, and is then reached with no key variable set."""

import pytest

from pipelines.llm import ModelsConfig
from pipelines.llm.clients import NO_KEY, resolve_api_key
from pipelines.llm.runner import LLMRunner
from pipelines.llm.standin_server import StandinServer
from tests.llm.llm_helpers import req


def config(provider: dict) -> ModelsConfig:
    return ModelsConfig.model_validate({
        "version": "t", "providers": {"p": provider},
        "models": {"m": {"provider": "p", "model_id": "standin-generic", "max_tokens": 64},
                   "j": {"provider": "p", "model_id": "standin-judge"}},
        "candidates": ["m"], "judge": "j"})


def test_anthropic_kind_may_declare_no_key():
    p = config({"kind": "anthropic", "base_url": "http://127.0.0.1:8080", "needs_key": False}).providers["p"]
    assert not p.requires_key and p.api_key_env is None


@pytest.mark.parametrize(("provider", "message"), [
    ({"kind": "anthropic", "base_url": "http://127.0.0.1:8080"}, "needs_key: false"),
    ({"kind": "anthropic", "needs_key": False}, "without base_url talks to the provider's own API"),
    ({"kind": "openai", "needs_key": False}, "without base_url talks to the provider's own API"),
    ({"kind": "anthropic", "base_url": "http://x", "needs_key": False, "api_key_env": "K"}, "drop one of them"),
    ({"kind": "openai", "base_url": "http://x", "needs_key": True}, "needs api_key_env"),
])
def test_contradictory_or_missing_key_settings_are_refused(provider, message):
    with pytest.raises(ValueError, match=message):
        config(provider)


def test_a_keyless_provider_never_sends_a_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-real-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-secret")
    for kind in ("anthropic", "openai"):
        p = config({"kind": kind, "base_url": "http://127.0.0.1:8080", "needs_key": False}).providers["p"]
        assert resolve_api_key("p", p) == NO_KEY  # explicit, so the SDK does not read its env variable


def test_keyless_anthropic_server_is_reached_without_any_key_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with StandinServer() as srv:
        cfg = config({"kind": "anthropic", "base_url": srv.base_url, "needs_key": False, "timeout_s": 5,
                      "deadline_s": 10})
        with LLMRunner(cfg, tmp_path / "c.sqlite", progress=False) as r:
            res = r.run([req()])[0]
        assert res.ok and res.text, res.error_message
        assert srv.request_log()[0]["protocol"] == "anthropic"


def test_preflight_does_not_ask_for_a_key_a_provider_does_not_need(tmp_path, monkeypatch):
    import yaml

    from pipelines.cli.preflight import check
    from pipelines.settings import Settings
    from tests.pipeline.helpers import small_raw_folder

    small_raw_folder(tmp_path / "raw", per_domain=1)
    with StandinServer() as srv:
        models = {"version": "t",
                  "providers": {"local": {"kind": "anthropic", "base_url": srv.base_url, "needs_key": False}},
                  "models": {"m": {"provider": "local", "model_id": "standin-generic"},
                             "j": {"provider": "local", "model_id": "standin-judge"}},
                  "candidates": ["m"], "judge": "j"}
        (tmp_path / "models.yaml").write_text(yaml.safe_dump(models))
        s = Settings.load(raw_dir=tmp_path / "raw", assets_dir=tmp_path / "assets", models=tmp_path / "models.yaml",
                          env={})
        assert check(s) == []
