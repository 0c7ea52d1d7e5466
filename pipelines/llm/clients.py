"""One async interface over the official OpenAI (chat.completions) and Anthropic (messages) SDKs.

The SDKs' own retries are switched off (``max_retries=0``): the runner owns retry, backoff,
deadlines and rate limits, so every provider behaves the same (the SDKs differ, e.g. openai
refuses a retry-after above 120 s while anthropic sleeps for any value). Every attempt passes an
explicit timeout, which also keeps anthropic from refusing large ``max_tokens`` non-streaming
requests (it raises "Streaming is required" only when it picks the timeout itself).
"""

from __future__ import annotations

import json
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
import openai

from pipelines.llm.config import ConfigError, ModelConfig, ProviderConfig
from pipelines.llm.types import LLMRequest

STANDIN_API_KEY = "standin-no-secret"  # the stand-in needs *a* key header, never a real one
# Sent to keyless servers: the SDKs need *a* key, and passing one explicitly keeps them from
# picking up OPENAI_API_KEY / ANTHROPIC_API_KEY from the environment and sending it elsewhere.
NO_KEY = "EMPTY"  # vLLM's documented convention
REPLY_TOOL = "submit_reply"  # the forced tool of structured_output: tool

# Anthropic extended-thinking budgets per effort level (the API's minimum budget is 1024).
ANTHROPIC_THINKING_BUDGET = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 32000}
_ANTHROPIC_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "stop", "max_tokens": "length",
                     "refusal": "content_filter"}


class EmptyContent(Exception):
    """HTTP 200 without any text. Retryable, unless the token budget ran out (see runner)."""

    def __init__(self, finish_reason: str | None) -> None:
        super().__init__(f"empty content (finish_reason={finish_reason})")
        self.finish_reason = finish_reason


@dataclass(frozen=True)
class Completion:
    text: str
    model_reported: str | None
    finish_reason: str | None
    input_tokens: int  # all prompt tokens, cached ones included
    output_tokens: int
    cached_tokens: int  # read from the provider's prompt cache
    latency_s: float
    cache_write_tokens: int = 0  # written to the prompt cache (Anthropic)


class ChatClient(ABC):
    """A provider connection. Create inside the event loop that uses it; close with aclose()."""

    @abstractmethod
    async def complete(self, model: ModelConfig, request: LLMRequest, timeout_s: float) -> Completion: ...

    @abstractmethod
    async def aclose(self) -> None: ...


def resolve_api_key(provider_name: str, provider: ProviderConfig) -> str:
    """The provider's key from its environment variable; stand-ins get a dummy key if none named."""
    if provider.api_key_env is None:
        # Stand-ins and keyless servers (needs_key: false, or an OpenAI-compatible base_url).
        return STANDIN_API_KEY if provider.kind == "standin" else NO_KEY
    key = os.environ.get(provider.api_key_env, "").strip()
    if not key:
        raise ConfigError(f"provider {provider_name!r}: environment variable {provider.api_key_env} is not set")
    return key


def _timeout(timeout_s: float) -> httpx2.Timeout:
    return httpx2.Timeout(timeout_s, connect=min(10.0, timeout_s))


def _http_client(sdk: Any, transport: str, max_concurrency: int) -> httpx2.AsyncClient:
    """The SDK's own default HTTP client class, with a pool sized to the provider's concurrency."""
    # Keep a pooled connection per concurrent call: reconnecting per call costs throughput.
    limits = httpx2.Limits(
        max_connections=max(max_concurrency * 2, 16), max_keepalive_connections=max(max_concurrency, 16)
    )
    cls: type[httpx2.AsyncClient] = sdk.DefaultAioHttpClient if transport == "aiohttp" else sdk.DefaultAsyncHttpxClient
    return cls(limits=limits)


class OpenAIChatClient(ChatClient):
    def __init__(self, base_url: str | None, api_key: str, max_concurrency: int, transport: str = "httpx2") -> None:
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            http_client=_http_client(openai, transport, max_concurrency),
        )

    @property
    def sdk(self) -> openai.AsyncOpenAI:
        """The SDK client (batch mode uses its files and batches resources)."""
        return self._client

    async def complete(self, model: ModelConfig, request: LLMRequest, timeout_s: float) -> Completion:
        kwargs = {**openai_kwargs(model, request), "timeout": _timeout(timeout_s)}
        t0 = time.perf_counter()
        resp = await self._client.chat.completions.create(**kwargs)
        return openai_completion(resp, time.perf_counter() - t0)

    async def aclose(self) -> None:
        await self._client.close()


def openai_kwargs(model: ModelConfig, request: LLMRequest) -> dict[str, Any]:
    """chat.completions.create() arguments of a request (a batch line's body is the same, extra_body merged)."""
    messages: list[dict[str, str]] = []
    if request.system is not None:
        messages.append({"role": "system", "content": request.system})
    messages.extend(request.messages)
    kwargs: dict[str, Any] = {"model": model.model_id, "messages": messages}
    if model.temperature is not None:
        kwargs["temperature"] = model.temperature
    if model.top_p is not None:
        kwargs["top_p"] = model.top_p
    max_tokens = request.max_tokens or model.max_tokens
    if model.reasoning_effort is not None:
        # Reasoning models count hidden reasoning in max_completion_tokens and reject max_tokens.
        kwargs["reasoning_effort"] = model.reasoning_effort
        kwargs["max_completion_tokens"] = max_tokens
    else:
        kwargs["max_tokens"] = max_tokens
    response_format = openai_response_format(model, request)
    if response_format is not None:
        kwargs["response_format"] = response_format
    if model.extra_params:
        kwargs["extra_body"] = dict(model.extra_params)
    return kwargs


def openai_completion(resp: Any, latency: float) -> Completion:
    """A ChatCompletion (a synchronous reply, or a batch result's body) as a Completion."""
    choice = resp.choices[0] if resp.choices else None
    text = (choice.message.content or "") if choice is not None else ""
    finish = choice.finish_reason if choice is not None else None
    if not text.strip():
        raise EmptyContent(finish)
    usage = resp.usage
    details = getattr(usage, "prompt_tokens_details", None) if usage else None
    return Completion(
        text=text,
        model_reported=resp.model,
        finish_reason=finish,
        input_tokens=(usage.prompt_tokens or 0) if usage else 0,
        output_tokens=(usage.completion_tokens or 0) if usage else 0,
        cached_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0,
        latency_s=latency,
    )


def openai_response_format(model: ModelConfig, request: LLMRequest) -> dict[str, Any] | None:
    """JSON mode for a JSON request: a strict json_schema when configured and the request has one."""
    if request.response_format != "json" or model.structured_output == "off":
        return None
    if model.structured_output == "json_schema" and request.json_schema is not None:
        return {"type": "json_schema", "json_schema": {"name": "reply", "strict": True, "schema": request.json_schema}}
    return {"type": "json_object"}


def anthropic_structured(model: ModelConfig, request: LLMRequest) -> tuple[dict[str, Any], str]:
    """(extra create() arguments, prefill) for a JSON request under the model's structured_output.

    The Messages API has no JSON-object mode; it offers structured outputs (output_config.format),
    forced tool use, and prefilling the assistant turn. Every one of them is documented by
    Anthropic; which one a server supports varies (llama.cpp's /v1/messages takes prefill).
    """
    mode, schema = model.structured_output, request.json_schema
    if request.response_format != "json" or mode in ("auto", "off"):
        return {}, ""
    if mode == "prefill":
        return {}, "{"
    if schema is None:
        return {}, ""
    schema = _anthropic_schema(schema)
    if mode == "json_schema":
        return {"output_config": {"format": {"type": "json_schema", "schema": schema}}}, ""
    return {"tools": [{"name": REPLY_TOOL, "description": "Submit the reply in the required JSON form.",
                       "input_schema": schema}],
            "tool_choice": {"type": "tool", "name": REPLY_TOOL}}, ""


def anthropic_messages(request: LLMRequest) -> list[dict[str, Any]]:
    """The request's messages; with ``cache_prefix_chars`` the last user message becomes two text blocks,
    the shared prefix marked ``cache_control: ephemeral`` (Anthropic caches up to that breakpoint) and
    the rest. The text the model reads is the same."""
    messages: list[dict[str, Any]] = list(request.messages)
    n, text = request.cache_prefix_chars, request.messages[-1]["content"]
    if n is None or n >= len(text):
        return messages
    blocks = [{"type": "text", "text": text[:n], "cache_control": {"type": "ephemeral"}},
              {"type": "text", "text": text[n:]}]
    return [*messages[:-1], {"role": "user", "content": blocks}]


def _anthropic_schema(schema: Any) -> Any:
    """The schema minus count and length bounds, which Anthropic's structured outputs do not take
    (minItems only as 0 or 1, no maxItems or string lengths)."""
    if isinstance(schema, dict):
        return {k: _anthropic_schema(v) for k, v in schema.items()
                if k not in ("minItems", "maxItems", "minLength", "maxLength")}
    if isinstance(schema, list):
        return [_anthropic_schema(v) for v in schema]
    return schema


class AnthropicMessagesClient(ChatClient):
    def __init__(self, base_url: str | None, api_key: str, max_concurrency: int, transport: str = "httpx2") -> None:
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            http_client=_http_client(anthropic, transport, max_concurrency),
        )

    @property
    def sdk(self) -> anthropic.AsyncAnthropic:
        """The SDK client (batch mode uses its messages.batches resource)."""
        return self._client

    async def complete(self, model: ModelConfig, request: LLMRequest, timeout_s: float) -> Completion:
        kwargs, prefill = anthropic_kwargs(model, request)
        t0 = time.perf_counter()
        resp = await self._client.messages.create(**kwargs, timeout=_timeout(timeout_s))
        return anthropic_completion(resp, prefill, time.perf_counter() - t0)

    async def aclose(self) -> None:
        await self._client.close()


def anthropic_kwargs(model: ModelConfig, request: LLMRequest) -> tuple[dict[str, Any], str]:
    """(messages.create() arguments, assistant prefill) of a request; a batch request's params are the same."""
    # anthropic>=1 dropped temperature/top_p (and we send thinking the same way) from the typed
    # signature; extra_body puts them in the JSON body unchanged.
    body: dict[str, Any] = {}
    max_tokens = request.max_tokens or model.max_tokens
    effort = model.reasoning_effort
    if effort is not None and effort != "none":
        budget = min(ANTHROPIC_THINKING_BUDGET[effort], max_tokens - 1)
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        # Extended thinking rejects a custom temperature/top_p: leave both unset.
    else:
        if model.temperature is not None:
            body["temperature"] = model.temperature
        if model.top_p is not None:
            body["top_p"] = model.top_p
    body.update(model.extra_params)
    structured, prefill = anthropic_structured(model, request)
    messages: list[dict[str, Any]] = anthropic_messages(request)
    if prefill:
        messages.append({"role": "assistant", "content": prefill})
    kwargs: dict[str, Any] = {
        "model": model.model_id,
        "max_tokens": max_tokens,
        "messages": messages,
        **structured,
    }
    if request.system is not None:
        kwargs["system"] = request.system
    if body:
        kwargs["extra_body"] = body
    return kwargs, prefill


def anthropic_completion(resp: Any, prefill: str, latency: float) -> Completion:
    """A Message (a synchronous reply, or a batch result's message) as a Completion."""
    text = "".join(getattr(b, "text", "") for b in resp.content if getattr(b, "type", None) == "text")
    tool_inputs = [b.input for b in resp.content if getattr(b, "type", None) == "tool_use"
                   and getattr(b, "name", None) == REPLY_TOOL]
    if tool_inputs:  # structured_output: tool; the reply is the forced tool call's input
        text = json.dumps(tool_inputs[0], ensure_ascii=False)
    elif prefill and text.strip() and not text.startswith(prefill):
        # The reply continues the prefilled turn (Anthropic); llama.cpp's /v1/messages returns the
        # prefill too. A JSON object's continuation after "{" never starts with "{" itself.
        text = prefill + text
    finish = _ANTHROPIC_FINISH.get(resp.stop_reason or "", resp.stop_reason)
    if not text.strip():
        raise EmptyContent(finish)
    u = resp.usage
    cache_read = getattr(u, "cache_read_input_tokens", 0) or 0
    cache_write = getattr(u, "cache_creation_input_tokens", 0) or 0
    return Completion(
        text=text,
        model_reported=resp.model,
        finish_reason=finish,
        # Anthropic's input_tokens excludes cache reads/writes; we report the total prompt.
        input_tokens=(u.input_tokens or 0) + cache_read + cache_write,
        output_tokens=u.output_tokens or 0,
        cached_tokens=cache_read,
        cache_write_tokens=cache_write,
        latency_s=latency,
    )


def build_client(provider_name: str, provider: ProviderConfig, base_url: str | None) -> ChatClient:
    """A client for ``provider``; ``base_url`` overrides the config (used for the built-in stand-in)."""
    api_key = resolve_api_key(provider_name, provider)
    cls = OpenAIChatClient if provider.wire == "openai" else AnthropicMessagesClient
    url = base_url if base_url is not None else provider.base_url
    return cls(url, api_key, provider.max_concurrency, provider.http_transport)
