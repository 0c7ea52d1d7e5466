"""LLM access layer: config, request/result types, call store, runner and the stand-in provider.

Domain core: no Dagster imports here (a thin Dagster layer elsewhere wraps the runner).

Names are imported lazily (PEP 562): ``import pipelines.llm.store`` or ``.lexical`` must not pay
for loading the openai/anthropic SDKs (about 3 s on a small machine), e.g. in worker processes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Estimate": "pipelines.llm.accounting",
    "ModelEstimate": "pipelines.llm.accounting",
    "ConfigError": "pipelines.llm.config",
    "ModelConfig": "pipelines.llm.config",
    "ModelsConfig": "pipelines.llm.config",
    "ProviderConfig": "pipelines.llm.config",
    "load_models_config": "pipelines.llm.config",
    "LLMRunner": "pipelines.llm.runner",
    "StandinServer": "pipelines.llm.standin_server",
    "oracle_key": "pipelines.llm.standins",
    "CallStore": "pipelines.llm.store",
    "call_key": "pipelines.llm.store",
    "key_material": "pipelines.llm.store",
    "LLMRequest": "pipelines.llm.types",
    "LLMResult": "pipelines.llm.types",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipelines.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from pipelines.llm.accounting import Estimate, ModelEstimate
    from pipelines.llm.config import ConfigError, ModelConfig, ModelsConfig, ProviderConfig, load_models_config
    from pipelines.llm.runner import LLMRunner
    from pipelines.llm.standin_server import StandinServer
    from pipelines.llm.standins import oracle_key
    from pipelines.llm.store import CallStore, call_key, key_material
    from pipelines.llm.types import LLMRequest, LLMResult
