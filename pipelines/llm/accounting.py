"""Token and cost arithmetic: dry-run estimates before a batch, usage roll-ups after it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pipelines.llm.config import ModelConfig, ModelsConfig
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
    cost_usd: float = 0.0


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
    per_model: dict[str, ModelEstimate] = field(default_factory=dict)

    def as_rows(self) -> list[dict[str, object]]:
        return [{"model": name, **vars(e)} for name, e in sorted(self.per_model.items())]


def estimate_requests(config: ModelsConfig, requests: Sequence[LLMRequest], keys: Sequence[str],
                      hits: set[str]) -> Estimate:
    """Calls needed (not in the store, not a duplicate in the batch), tokens and cost per model."""
    est = Estimate(requests=len(requests))
    seen: set[str] = set()
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
            cost = model.cost_usd(tin, tout)
            est.calls_needed += 1
            est.input_tokens += tin
            est.output_tokens += tout
            est.cost_usd += cost
            pe.calls += 1
            pe.input_tokens += tin
            pe.output_tokens += tout
            pe.cost_usd += cost
    return est
