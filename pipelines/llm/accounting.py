"""Token and cost arithmetic: dry-run estimates before a batch, usage roll-ups after it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipelines.llm.config import ModelConfig
from pipelines.llm.types import LLMRequest, LLMResult


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


def usage_table(results: Iterable[LLMResult]) -> list[dict[str, object]]:
    """Roll-up per (role, model, task) from ``tags['role']`` / ``tags['task_id']``.

    ``cost_usd`` values every call's tokens at the configured prices; ``cost_usd_new`` counts
    only calls sent in this run (store hits cost nothing again).
    """
    rows: dict[tuple[str, str, str], dict[str, object]] = {}
    sums: dict[tuple[str, str, str], defaultdict[str, float]] = {}
    for r in results:
        k = (r.tags.get("role", ""), r.model, r.tags.get("task_id", ""))
        if k not in rows:
            rows[k] = {"role": k[0], "model": k[1], "task_id": k[2]}
            sums[k] = defaultdict(float)
        s = sums[k]
        s["calls"] += 1
        s["ok"] += r.ok
        s["errors"] += not r.ok
        s["from_store"] += r.from_store
        s["input_tokens"] += r.input_tokens
        s["output_tokens"] += r.output_tokens
        s["cached_tokens"] += r.cached_tokens
        s["cost_usd"] += r.cost_usd
        s["cost_usd_new"] += 0.0 if r.from_store else r.cost_usd
    out = []
    for k in sorted(rows):
        row = dict(rows[k])
        for name, v in sums[k].items():
            row[name] = round(v, 6) if name.startswith("cost") else int(v)
        out.append(row)
    return out
