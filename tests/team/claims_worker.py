"""Child-process body for the two-workers test: one runner, one batch, started with the other worker."""

from __future__ import annotations

from typing import Any

from pipelines.llm.config import ModelsConfig


def standin_config(base_url: str) -> ModelsConfig:
    """One stand-in provider on an external (countable) server, one model, a judge."""
    prov = {"kind": "standin", "protocol": "openai", "base_url": base_url + "/v1", "max_concurrency": 16,
            "timeout_s": 30, "deadline_s": 120, "max_retries": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.05}
    return ModelsConfig.model_validate({
        "version": "test", "providers": {"p": prov},
        "models": {"m": {"provider": "p", "model_id": "standin-generic", "max_tokens": 256},
                   "judge": {"provider": "p", "model_id": "standin-judge", "max_tokens": 512}},
        "candidates": ["m"], "judge": "judge"})


def requests(prompts: list[str]) -> list[Any]:
    from pipelines.llm.types import LLMRequest

    return [LLMRequest(model="m", messages=[{"role": "user", "content": p}], template_hash="tpl") for p in prompts]


def pay(store_url: str, base_url: str, prompts: list[str], barrier: Any) -> list[tuple[bool, str | None, bool]]:
    """Run the batch once every worker is ready; (ok, text, from_store) per request."""
    from pipelines.llm.runner import LLMRunner  # the SDK import happens before the start line

    with LLMRunner(standin_config(base_url), store_url, progress=False, seed=1) as runner:
        barrier.wait(timeout=120)
        return [(r.ok, r.text, r.from_store) for r in runner.run(requests(prompts))]
