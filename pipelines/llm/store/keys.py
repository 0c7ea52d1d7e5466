"""Call keys: the sha256 of the canonical JSON of everything that determines an answer.

Each call is keyed by :func:`call_key`: the sha256 of the canonical JSON of everything that
determines the answer (:func:`key_material`). A key found in the store is never sent again,
so reruns are free and reproducible.

Not in the key: the API key (never stored anywhere), ``tags`` (bookkeeping), timeouts, retry
policy, prices, and the model's *config name* (two names for the same model and parameters
share answers). A stand-in without ``base_url`` uses a runner-chosen port, so its key holds
``base_url: null`` rather than the port.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.llm.config import ModelsConfig
    from pipelines.llm.types import LLMRequest

SCHEMA_MODES = ("json_schema", "tool")  # structured_output modes that send the request's json_schema
KEY_SCHEMA = 1  # bump when key_material changes shape: old entries then simply stop matching


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the same object always gives the same bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def model_material(config: ModelsConfig, name: str) -> dict[str, Any]:
    """The part of a model's configuration that can change its answers (not prices or limits)."""
    model = config.model(name)
    provider = config.providers[model.provider]
    return {
        "provider": {
            "kind": provider.kind,
            "protocol": provider.wire,
            "base_url": provider.base_url.rstrip("/") if provider.base_url else None,
        },
        "model_id": model.model_id,
        "params": {
            "temperature": model.temperature,
            "top_p": model.top_p,
            "max_tokens": model.max_tokens,
            "reasoning_effort": model.reasoning_effort,
            "extra_params": model.extra_params,
            # Only when not the default, so keys made before the option existed stay valid.
            **({"structured_output": model.structured_output} if model.structured_output != "auto" else {}),
        },
    }


def model_fingerprint(config: ModelsConfig, name: str) -> str:
    return hashlib.sha256(canonical_json(model_material(config, name)).encode("utf-8")).hexdigest()


def key_material(request: LLMRequest, config: ModelsConfig) -> dict[str, Any]:
    """Exactly what :func:`call_key` hashes; print it to debug an unexpected miss."""
    material = {
        "schema": KEY_SCHEMA,
        **model_material(config, request.model),
        "system": request.system,
        "messages": request.messages,
        "response_format": request.response_format,
        "template_hash": request.template_hash,
        "replicate": request.replicate,
        "attempt": request.attempt,
    }
    # Newer fields enter the key only when set, so keys made before they existed stay valid.
    if request.max_tokens is not None:
        material["params"] = {**material["params"], "max_tokens": request.max_tokens}
    if request.json_schema is not None and config.model(request.model).structured_output in SCHEMA_MODES:
        material["json_schema"] = request.json_schema  # sent on the wire only in these modes
    return material


def call_key(request: LLMRequest, config: ModelsConfig) -> str:
    """sha256 hex of the canonical JSON of :func:`key_material` (never the API key, never tags)."""
    return key_of(key_material(request, config))


def key_of(material: dict[str, Any]) -> str:
    """The call key of already-built key material."""
    return hashlib.sha256(canonical_json(material).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredCall:
    call_key: str
    model: str
    request: dict[str, Any]  # the key material
    response: dict[str, Any]  # text, model_reported, finish_reason, usage, latency_s
    created_at: str
