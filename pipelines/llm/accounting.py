"""Token and cost arithmetic: dry-run estimates before a batch, usage roll-ups after it.

An estimate prices every call three ways: ``sync`` (every input token uncached), ``cached`` (the
calls sent in the given order through the provider prompt-cache simulation of llm/prompt_cache.py:
a judge prompt's prefix shared by the candidates of a task is read from the cache after its first
call) and ``batch`` (the cached tokens at the model's ``batch_discount``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pipelines.llm.config import ModelConfig, ModelsConfig
from pipelines.llm.prompt_cache import PromptCache, Usage, request_body
from pipelines.llm.types import LLMRequest


def estimate_input_tokens(request: LLMRequest) -> int:
    """About four characters per token; good enough to budget, not to bill."""
    chars = len(request.system or "") + sum(len(m["content"]) for m in request.messages)
    return chars // 4 + 1


def estimate_output_tokens(model: ModelConfig) -> int:
    return model.expected_output_tokens or model.max_tokens


@dataclass
class ModelEstimate:
    calls: int = 0  # calls that would be sent
    store_hits: int = 0
    input_tokens: int = 0  # of the calls to send
    output_tokens: int = 0
    cost_usd: float = 0.0  # sync: no prompt caching
    cached_tokens: int = 0  # of input_tokens, read from the provider's cache (simulated)
    cache_write_tokens: int = 0  # of input_tokens, written to it (Anthropic)
    cost_cached_usd: float = 0.0
    cost_batch_usd: float = 0.0


@dataclass
class Estimate:
    """What ``LLMRunner.run`` would do with these requests; nothing is sent to make it."""

    requests: int = 0
    calls_needed: int = 0
    store_hits: int = 0
    duplicates: int = 0  # requests identical to an earlier one in the batch (sent once)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cost_cached_usd: float = 0.0
    cost_batch_usd: float = 0.0
    per_model: dict[str, ModelEstimate] = field(default_factory=dict)

    def as_rows(self) -> list[dict[str, object]]:
        return [{"model": name, **vars(e)} for name, e in sorted(self.per_model.items())]


def estimate_requests(config: ModelsConfig, requests: Sequence[LLMRequest], keys: Sequence[str],
                      hits: set[str]) -> Estimate:
    """Calls needed (not in the store, not a duplicate in the batch), tokens and cost per model."""
    est = Estimate(requests=len(requests))
    seen: set[str] = set()
    cache = PromptCache()
    for r, k in zip(requests, keys, strict=True):
        model = config.model(r.model)
        pe = est.per_model.setdefault(r.model, ModelEstimate())
        if k in hits:
            est.store_hits += 1
            pe.store_hits += 1
        elif k in seen:
            est.duplicates += 1
        else:
            seen.add(k)
            tin, tout = estimate_input_tokens(r), estimate_output_tokens(model)
            u = cached_usage(cache, config, r, tin, tout)
            cost = model.cost_usd(tin, tout)
            cost_cached = model.cost_usd(tin, tout, u.cached_tokens, u.cache_write_tokens)
            for target in (est, pe):
                target.input_tokens += tin
                target.output_tokens += tout
                target.cached_tokens += u.cached_tokens
                target.cache_write_tokens += u.cache_write_tokens
                target.cost_usd += cost
                target.cost_cached_usd += cost_cached
                target.cost_batch_usd += cost_cached * model.batch_discount
            est.calls_needed += 1
            pe.calls += 1
    return est


def cached_usage(cache: PromptCache, config: ModelsConfig, r: LLMRequest, tin: int, tout: int) -> Usage:
    """The call through the prompt-cache simulation, its cached and written shares scaled to ``tin``."""
    protocol = config.provider_of(r.model).wire
    sim = cache.usage(protocol, r.model, request_body(protocol, r.system, r.messages, r.cache_prefix_chars), tout)
    if not sim.input_tokens:
        return Usage(tin, tout)
    return Usage(tin, tout, round(tin * sim.cached_tokens / sim.input_tokens),
                 round(tin * sim.cache_write_tokens / sim.input_tokens))
