"""models.yaml / models.paper.yaml load, and bad configs fail with clear messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.llm import ConfigError, ModelsConfig, load_models_config
from pipelines.paths import PROJECT_ROOT


def base() -> dict[str, Any]:
    return {
        "version": "v",
        "providers": {"sp": {"kind": "standin", "protocol": "openai"}},
        "models": {"a": {"provider": "sp", "model_id": "standin-generic"}, "j": {"provider": "sp", "model_id": "standin-judge"}},
        "candidates": ["a"],
        "judge": "j",
    }


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    p = tmp_path / "models.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_default_models_yaml_is_offline_standins() -> None:
    cfg = load_models_config(PROJECT_ROOT / "models.yaml")
    assert cfg.candidates == ["oracle", "partial", "generic"]
    assert cfg.judge == "standin-judge"
    assert {p.kind for p in cfg.providers.values()} == {"standin"}
    assert cfg.providers["standin-openai"].protocol == "openai"
    assert cfg.providers["standin-anthropic"].protocol == "anthropic"
    assert cfg.provider_of("partial").protocol == "anthropic"
    assert cfg.uses_standin()
    assert {m.model_id for m in cfg.models.values()} == {"standin-oracle", "standin-partial", "standin-generic", "standin-judge"}
    header = (PROJECT_ROOT / "models.yaml").read_text()
    assert "Stand-in scores demonstrate the machinery" in header and "NOTHING about the quality" in header


def test_paper_config_references_env_vars_not_keys() -> None:
    cfg = load_models_config(PROJECT_ROOT / "models.paper.yaml")
    assert cfg.judge == "gemini-2.5-pro"
    gem = cfg.provider_of("gemini-2.5-pro")
    assert gem.kind == "openai" and gem.base_url == "https://generativelanguage.googleapis.com/v1beta/openai/"
    assert gem.api_key_env == "GEMINI_API_KEY"
    assert cfg.provider_of("claude-opus-4-6").kind == "anthropic"
    assert cfg.model("gpt-5.4").reasoning_effort == "high"
    assert cfg.provider_of("qwen3-32b-vllm").base_url == "http://127.0.0.1:8000/v1"
    assert not cfg.uses_standin()
    text = (PROJECT_ROOT / "models.paper.yaml").read_text()
    assert "check your provider's price list" in text.lower()
    assert "sk-" not in text


def test_protocol_rules() -> None:
    data = base()
    data["providers"]["sp"] = {"kind": "standin"}
    with pytest.raises(ValueError, match="needs protocol"):
        ModelsConfig.model_validate(data)
    data["providers"]["sp"] = {"kind": "anthropic", "protocol": "openai", "api_key_env": "K"}
    with pytest.raises(ValueError, match="speaks protocol"):
        ModelsConfig.model_validate(data)
    data["providers"]["sp"] = {"kind": "anthropic", "api_key_env": "K"}
    assert ModelsConfig.model_validate(data).providers["sp"].protocol == "anthropic"
    data["providers"]["sp"] = {"kind": "openai"}
    with pytest.raises(ValueError, match="needs api_key_env"):
        ModelsConfig.model_validate(data)
    data["providers"]["sp"] = {"kind": "openai", "base_url": "http://127.0.0.1:8000/v1"}  # keyless vLLM is fine
    ModelsConfig.model_validate(data)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["models"]["a"].update(provider="nope"), "unknown provider 'nope'"),
        (lambda d: d.update(candidates=["a", "ghost"]), "candidates: unknown model 'ghost'"),
        (lambda d: d.update(judge="ghost"), "judge: unknown model 'ghost'"),
        (lambda d: d.update(candidates=["a", "a"]), "listed more than once"),
        (lambda d: d["models"].update({"bad name": {"provider": "sp", "model_id": "x"}}), "partition keys"),
        (lambda d: d["models"]["a"].update(temprature=0.2), "temprature"),
        (lambda d: d["models"]["a"].update(reasoning_effort="extreme"), "reasoning_effort"),
        (lambda d: d["providers"]["sp"].update(timeout_s=100, deadline_s=10), "shorter than one attempt"),
        (lambda d: d["providers"]["sp"].update(api_key_env="not a var"), "api_key_env"),
        (
            lambda d: (d["providers"]["sp"].update(protocol="anthropic"), d["models"]["a"].update(reasoning_effort="low", max_tokens=1000)),
            "extended thinking needs max_tokens",
        ),
    ],
)
def test_invalid_configs_fail_clearly(tmp_path: Path, mutate: Any, message: str) -> None:
    data = base()
    mutate(data)
    with pytest.raises(ConfigError, match=message) as e:
        load_models_config(write(tmp_path, data))
    assert str(tmp_path) in str(e.value)  # the error names the file


def test_missing_and_unparseable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_models_config(tmp_path / "absent.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("version: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_models_config(p)


def test_cost_prices_cached_input_separately() -> None:
    data = base()
    data["models"]["a"].update(price_input_per_mtok=2.0, price_output_per_mtok=8.0, input_cached_per_mtok=0.5)
    m = ModelsConfig.model_validate(data).model("a")
    # 1M input of which 400k cached, 100k output
    assert m.cost_usd(1_000_000, 100_000, 400_000) == pytest.approx(0.6 * 2.0 + 0.4 * 0.5 + 0.1 * 8.0)
    data["models"]["a"].pop("input_cached_per_mtok")
    m2 = ModelsConfig.model_validate(data).model("a")
    assert m2.cost_usd(1_000_000, 0, 400_000) == pytest.approx(2.0)  # default: cached at the input price


def test_cache_writes_reads_and_batch_are_priced_apart() -> None:
    data = base()
    data["models"]["a"].update(price_input_per_mtok=2.0, price_output_per_mtok=8.0, input_cached_per_mtok=0.2)
    m = ModelsConfig.model_validate(data).model("a")
    # 1M prompt tokens: 300k read from the cache, 200k written to it, the rest uncached; 100k output.
    sync = 0.5 * 2.0 + 0.3 * 0.2 + 0.2 * 2.0 * 1.25 + 0.1 * 8.0  # cache writes default to input x 1.25
    assert m.cost_usd(1_000_000, 100_000, 300_000, 200_000) == pytest.approx(sync)
    assert m.batch_discount == 0.5 and m.cost_usd(1_000_000, 100_000, 300_000, 200_000, batch=True) == \
        pytest.approx(sync * 0.5)
    data["models"]["a"].update(cache_write_per_mtok=3.0, batch_discount=1.0)
    m = ModelsConfig.model_validate(data).model("a")
    assert m.cost_usd(1_000_000, 0, 0, 1_000_000, batch=True) == pytest.approx(3.0)
    # The field's old name is still read.
    data["models"]["a"].pop("input_cached_per_mtok")
    data["models"]["a"]["price_cached_input_per_mtok"] = 0.7
    assert ModelsConfig.model_validate(data).model("a").input_cached_per_mtok == 0.7
    data["models"]["a"]["batch_discount"] = 0
    with pytest.raises(ValueError, match="batch_discount"):
        ModelsConfig.model_validate(data)


def test_paper_prices_are_dated_list_prices() -> None:
    cfg = load_models_config(PROJECT_ROOT / "models.paper.yaml")
    text = (PROJECT_ROOT / "models.paper.yaml").read_text()
    assert "2026-12-06" in text and "PLACEHOLDER" not in text.upper()
    assert len(cfg.candidates) == 10
    judge = cfg.model(cfg.judge)
    assert (judge.price_input_per_mtok, judge.input_cached_per_mtok, judge.price_output_per_mtok) == (1.25, 0.125, 10.0)
    opus = cfg.model("claude-opus-4-6")
    assert (opus.price_input_per_mtok, opus.input_cached_per_mtok, opus.cache_write_price) == (5.0, 0.5, 6.25)
