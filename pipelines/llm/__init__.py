"""LLM access layer: config, request/result types, call store, runner and the stand-in provider.

Domain core: no Dagster imports here (a thin Dagster layer elsewhere wraps the runner).
"""

from pipelines.llm.accounting import Estimate, ModelEstimate, usage_table
from pipelines.llm.config import ConfigError, ModelConfig, ModelsConfig, ProviderConfig, load_models_config
from pipelines.llm.runner import LLMRunner
from pipelines.llm.standin_server import StandinServer
from pipelines.llm.standins import oracle_key
from pipelines.llm.store import CallStore, call_key, key_material
from pipelines.llm.types import LLMRequest, LLMResult

__all__ = [
    "CallStore",
    "ConfigError",
    "Estimate",
    "LLMRequest",
    "LLMResult",
    "LLMRunner",
    "ModelConfig",
    "ModelEstimate",
    "ModelsConfig",
    "ProviderConfig",
    "StandinServer",
    "call_key",
    "key_material",
    "load_models_config",
    "oracle_key",
    "usage_table",
]
