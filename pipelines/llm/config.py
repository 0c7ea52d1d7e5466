"""Which models exist, how to reach them, and what they cost (models.yaml).

API keys are never part of the config: a provider names the *environment variable* that holds
its key (``api_key_env``), read when the client is built. Model names are Dagster partition
keys, so they are restricted to a safe character set.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ProviderKind = Literal["openai", "anthropic", "standin"]
Protocol = Literal["openai", "anthropic"]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
# How a JSON reply (the judge's) is asked for on the wire; see pipelines/llm/clients.py.
#   auto         openai: json_object; anthropic: nothing (the prompt alone asks for JSON)
#   off          nothing beyond the prompt
#   json_object  openai response_format {"type": "json_object"} (valid JSON, any shape)
#   json_schema  the reply's JSON schema: openai response_format json_schema (strict), anthropic
#                output_config.format (structured outputs); llama.cpp and vLLM servers honour the openai one
#   prefill      anthropic: the assistant turn is prefilled with "{" (the reply continues the object)
#   tool         anthropic: a forced tool call whose input_schema is the reply's schema
StructuredOutput = Literal["auto", "off", "json_object", "json_schema", "prefill", "tool"]
_STRUCTURED_BY_PROTOCOL = {"openai": {"auto", "off", "json_object", "json_schema"},
                           "anthropic": {"auto", "off", "json_schema", "prefill", "tool"}}

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
ANTHROPIC_MIN_THINKING_BUDGET = 1024  # the Messages API rejects smaller thinking budgets
# How calls reach a provider: one HTTP request each (sync), or the provider's batch API (OpenAI Batch
# API, Anthropic Message Batches: half price, results within 24 h; see pipelines/llm/batch.py).
CallMode = Literal["sync", "batch"]
BATCH_KINDS = ("openai", "anthropic")


class ConfigError(ValueError):
    """A models config that cannot be used (bad reference, missing field, missing key variable)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProviderConfig(_Frozen):
    kind: ProviderKind
    # Wire protocol / SDK. For kind openai|anthropic it must equal the kind (defaulted to it);
    # a stand-in speaks either, so it must be given explicitly.
    protocol: Protocol | None = None
    # OpenAI-compatible endpoints (Gemini, vLLM, DeepSeek, ...) are kind "openai" + base_url.
    # For a stand-in, None means "the server the runner starts itself".
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # A server that needs no key (llama.cpp, vLLM, a local proxy) says so with `needs_key: false`;
    # None = the kind's default (anthropic and the official OpenAI API need one, stand-ins and
    # OpenAI-compatible servers with a base_url do not).
    needs_key: bool | None = None
    max_concurrency: int = Field(default=8, ge=1, le=1024)
    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=120.0, gt=0, description="per HTTP attempt")
    deadline_s: float = Field(default=600.0, gt=0, description="per call, all attempts and waits")
    max_retries: int = Field(default=6, ge=0, le=50)
    retry_after_cap_s: float = Field(default=60.0, ge=0)
    backoff_base_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    # The SDKs' HTTP transport: aiohttp (their documented option "for improved concurrency
    # performance": ~30% less CPU per call and no per-request scan of the connection pool, see
    # bench/llm_throughput.py) or httpx2 (their built-in default). Faults behave the same on both
    # (tests/llm/test_llm_faults.py runs every fault on each).
    http_transport: Literal["aiohttp", "httpx2"] = "aiohttp"
    # Batch mode (kinds openai and anthropic only): the default for this provider's models, how often
    # a submitted batch is polled (on the runner's clock), and at most how many calls one batch holds.
    mode: CallMode = "sync"
    batch_poll_s: float = Field(default=30.0, gt=0)
    batch_max_requests: int = Field(default=10_000, ge=1, le=50_000)

    @model_validator(mode="before")
    @classmethod
    def _default_protocol(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") in ("openai", "anthropic") and data.get("protocol") is None:
            data = {**data, "protocol": data["kind"]}
        return data

    @model_validator(mode="after")
    def _protocol(self) -> ProviderConfig:
        if self.protocol is None:
            raise ValueError("kind 'standin' needs protocol: openai | anthropic")
        if self.kind != "standin" and self.protocol != self.kind:
            raise ValueError(f"kind {self.kind!r} speaks protocol {self.kind!r}, not {self.protocol!r}")
        if self.needs_key is False:
            if self.api_key_env:
                raise ValueError("needs_key is false but api_key_env is set: drop one of them")
            if self.kind != "standin" and self.base_url is None:
                raise ValueError(f"kind {self.kind!r} without base_url talks to the provider's own API, which "
                                 "needs a key: set base_url for a keyless server, or api_key_env")
        elif self.requires_key and not self.api_key_env:
            if self.kind == "openai" and self.base_url is None:
                raise ValueError("kind 'openai' without base_url talks to api.openai.com and needs api_key_env")
            raise ValueError(f"kind {self.kind!r} needs api_key_env (name of the variable holding the key), "
                             "or needs_key: false for a server that takes none")
        if self.deadline_s < self.timeout_s:
            raise ValueError(f"deadline_s ({self.deadline_s}) is shorter than one attempt (timeout_s {self.timeout_s})")
        return self

    @property
    def requires_key(self) -> bool:
        """Whether calls need a key from ``api_key_env`` (``needs_key``, else the kind's default)."""
        if self.needs_key is not None:
            return self.needs_key
        if self.kind == "anthropic":
            return True
        return self.kind == "openai" and self.base_url is None

    @property
    def wire(self) -> Protocol:
        """The protocol, never None after validation."""
        assert self.protocol is not None
        return self.protocol


class ModelConfig(_Frozen):
    provider: str
    model_id: str = Field(min_length=1)
    # None = not sent (reasoning models reject temperature/top_p other than the default).
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int = Field(default=4096, ge=1)
    reasoning_effort: ReasoningEffort | None = None
    # Sent verbatim as extra request body fields; escape hatch for provider-specific options.
    extra_params: dict[str, Any] = Field(default_factory=dict)
    price_input_per_mtok: float = Field(default=0.0, ge=0)
    price_output_per_mtok: float = Field(default=0.0, ge=0)
    # Cache read (OpenAI cached_tokens, Anthropic cache_read_input_tokens); None = same as input.
    input_cached_per_mtok: float | None = Field(default=None, ge=0, description="None = same as input")
    # Anthropic cache write (cache_creation_input_tokens); None = input price x 1.25 (the 5-minute TTL rate).
    cache_write_per_mtok: float | None = Field(default=None, ge=0, description="None = input price x 1.25")
    # Fraction of the synchronous price paid in batch mode (OpenAI Batch, Anthropic Message Batches: 0.5).
    batch_discount: float = Field(default=0.5, gt=0, le=1)
    expected_output_tokens: int | None = Field(default=None, ge=1, description="for estimates; default max_tokens")
    # Prompt plus max_tokens must fit in it; checked by `xpertbench estimate` and the run's preflight
    # (pipelines/llm/tokens.py). None = unknown, not checked. Not part of call keys (a limit, not a setting).
    context_window: int | None = Field(default=None, ge=1)
    structured_output: StructuredOutput = "auto"
    # None = the provider's mode. Not part of call keys: a batch answer is the same call's answer.
    mode: CallMode | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_price_name(cls, data: Any) -> Any:
        # price_cached_input_per_mtok was this field's name before cache writes were priced.
        if isinstance(data, dict) and "price_cached_input_per_mtok" in data:
            data = dict(data)
            old = data.pop("price_cached_input_per_mtok")
            data.setdefault("input_cached_per_mtok", old)
        return data

    @property
    def cached_price(self) -> float:
        return self.price_input_per_mtok if self.input_cached_per_mtok is None else self.input_cached_per_mtok

    @property
    def cache_write_price(self) -> float:
        return self.price_input_per_mtok * 1.25 if self.cache_write_per_mtok is None else self.cache_write_per_mtok

    def cost_usd(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0, cache_write_tokens: int = 0,
                 *, batch: bool = False) -> float:
        """Cost of one call. ``input_tokens`` is the whole prompt: it includes ``cached_tokens`` (cache
        reads) and ``cache_write_tokens`` (Anthropic cache writes), each priced at its own rate; the rest
        is uncached input. ``batch`` applies ``batch_discount`` to everything."""
        cached = min(cached_tokens, input_tokens)
        written = min(cache_write_tokens, input_tokens - cached)
        usd = ((input_tokens - cached - written) * self.price_input_per_mtok + cached * self.cached_price
               + written * self.cache_write_price + output_tokens * self.price_output_per_mtok) / 1e6
        return usd * self.batch_discount if batch else usd


class ModelsConfig(_Frozen):
    version: str = Field(min_length=1)
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]
    candidates: list[str] = Field(min_length=1, description="model names; Dagster partitions")
    judge: str

    @field_validator("providers", "models")
    @classmethod
    def _names(cls, v: dict[str, Any]) -> dict[str, Any]:
        import re

        bad = [k for k in v if not re.match(_NAME_PATTERN, k)]
        if bad:
            raise ValueError(f"names must match {_NAME_PATTERN} (they become partition keys): {bad}")
        return v

    @model_validator(mode="after")
    def _references(self) -> ModelsConfig:
        problems: list[str] = []
        for name, m in self.models.items():
            if m.provider not in self.providers:
                problems.append(f"model {name!r}: unknown provider {m.provider!r} (known: {sorted(self.providers)})")
                continue
            wire = self.providers[m.provider].protocol or "openai"
            kind = self.providers[m.provider].kind
            if (m.mode or self.providers[m.provider].mode) == "batch" and kind not in BATCH_KINDS:
                problems.append(f"model {name!r}: mode 'batch' needs a provider of kind openai or anthropic "
                                f"(provider {m.provider!r} is kind {kind!r}); use mode: sync")
            if m.structured_output not in _STRUCTURED_BY_PROTOCOL[wire]:
                problems.append(f"model {name!r}: structured_output {m.structured_output!r} is not available over "
                                f"the {wire} protocol (use one of {sorted(_STRUCTURED_BY_PROTOCOL[wire])})")
            if m.structured_output in ("prefill", "tool") and m.reasoning_effort not in (None, "none"):
                problems.append(f"model {name!r}: structured_output {m.structured_output!r} cannot be combined with "
                                "extended thinking (reasoning_effort); use json_schema")
            if m.context_window is not None and m.max_tokens >= m.context_window:
                problems.append(f"model {name!r}: max_tokens {m.max_tokens} leaves no room for a prompt in "
                                f"context_window {m.context_window}")
            if (
                self.providers[m.provider].protocol == "anthropic"
                and m.reasoning_effort not in (None, "none")
                and m.max_tokens <= ANTHROPIC_MIN_THINKING_BUDGET
            ):
                problems.append(
                    f"model {name!r}: extended thinking needs max_tokens above the minimum thinking budget "
                    f"({ANTHROPIC_MIN_THINKING_BUDGET}), got {m.max_tokens}"
                )
        refs = [("candidates", c) for c in self.candidates]
        refs.append(("judge", self.judge))
        for field, name in refs:
            if name not in self.models:
                problems.append(f"{field}: unknown model {name!r} (known: {sorted(self.models)})")
        for field, names in (("candidates", self.candidates),):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                problems.append(f"{field}: listed more than once: {dupes}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def model(self, name: str) -> ModelConfig:
        try:
            return self.models[name]
        except KeyError:
            raise ConfigError(f"unknown model {name!r} (known: {sorted(self.models)})") from None

    def provider_of(self, model_name: str) -> ProviderConfig:
        return self.providers[self.model(model_name).provider]

    def mode_of(self, model_name: str) -> CallMode:
        """sync or batch: the model's own mode, else its provider's."""
        return self.model(model_name).mode or self.provider_of(model_name).mode

    def uses_standin(self) -> bool:
        """True if some model needs the built-in stand-in server (a stand-in without base_url)."""
        return any(
            self.providers[m.provider].kind == "standin" and self.providers[m.provider].base_url is None
            for m in self.models.values()
        )

    def fingerprint(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def load_models_config(path: Path | str) -> ModelsConfig:
    """Read and validate a models YAML file; errors name the file and the offending field."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: models config not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at top level")
    try:
        return ModelsConfig.model_validate(data)
    except ValidationError as e:
        lines = [f"{'.'.join(str(x) for x in err['loc']) or '<root>'}: {err['msg']}" for err in e.errors()]
        raise ConfigError(f"{p}: invalid models config:\n  " + "\n  ".join(lines)) from None
