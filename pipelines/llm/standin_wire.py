"""The OpenAI and Anthropic wire shapes the stand-in server speaks: reply bodies, error bodies, usage.

Kept apart from the HTTP plumbing (standin_server.py) so that every route that answers like a
provider (synchronous calls now, batch results later) builds the very same bodies.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pipelines.llm.prompt_cache import PromptCache
from pipelines.llm.standins import reported_model_id, respond

FIXED_CREATED = 1_767_225_600  # 2026-01-01T00:00:00Z; a constant so bodies are deterministic

ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
FINISH_TO_ANTHROPIC = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal"}


def approx_tokens(text: str) -> int:
    """Deterministic usage estimate: about four characters per token."""
    return len(text) // 4 + 1


def text_of(content: Any) -> str:
    """Message content as text: a string, or the text blocks of an Anthropic/OpenAI content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def last_user_text(body: dict[str, Any]) -> str:
    for m in reversed(body.get("messages") or []):
        if isinstance(m, dict) and m.get("role") == "user":
            return text_of(m.get("content"))
    return ""


def billed_usage(cache: PromptCache, protocol: str, model: str, body: dict[str, Any], text: str,
                 fault: dict[str, Any]) -> tuple[int, int, int, int]:
    """(input, output, cache read, cache write) tokens of a reply: the prompt through the prompt-cache
    simulation (llm/prompt_cache.py); a scripted ``cached_tokens`` fault overrides the cache read."""
    u = cache.usage(protocol, model, body, approx_tokens(text))
    if "cached_tokens" in fault:
        return u.input_tokens, u.output_tokens, min(int(fault["cached_tokens"]), u.input_tokens), 0
    return u.input_tokens, u.output_tokens, u.cached_tokens, u.cache_write_tokens


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]


def error_body(protocol: str, status: int, message: str) -> dict[str, Any]:
    if protocol == "anthropic":
        etype = ANTHROPIC_ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": etype, "message": message}}
    if status == 429:
        etype = "rate_limit_exceeded"
    else:
        etype = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": etype, "param": None, "code": etype}}


def openai_body(model: str, text: str, finish: str, usage: tuple[int, int, int, int]) -> dict[str, Any]:
    inp, out, cached, _ = usage  # OpenAI bills no cache writes
    return {
        "id": "chatcmpl-" + _digest(model, text),
        "object": "chat.completion",
        "created": FIXED_CREATED,
        "model": reported_model_id(model),
        "choices": [
            {"index": 0, "finish_reason": finish, "logprobs": None,
             "message": {"role": "assistant", "content": text, "refusal": None}}
        ],
        "usage": {
            "prompt_tokens": inp,
            "completion_tokens": out,
            "total_tokens": inp + out,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def assistant_prefill(body: dict[str, Any]) -> str:
    """The text of a final assistant message (Anthropic prefill), or ""."""
    msgs = body.get("messages") or []
    last = msgs[-1] if msgs else None
    if isinstance(last, dict) and last.get("role") == "assistant":
        return text_of(last.get("content"))
    return ""


def forced_tool(body: dict[str, Any]) -> str | None:
    """The tool name an Anthropic request forces (tool_choice type "tool"), or None."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool" and isinstance(choice.get("name"), str):
        return choice["name"]
    return None


def _anthropic_content(text: str, finish: str, tool: str | None) -> tuple[list[dict[str, Any]], str]:
    if tool is not None and finish == "stop":
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return [{"type": "tool_use", "id": "toolu_" + _digest(tool, text), "name": tool, "input": value}], "tool_use"
    return [{"type": "text", "text": text}], FINISH_TO_ANTHROPIC.get(finish, finish)


def anthropic_body(model: str, text: str, finish: str, usage: tuple[int, int, int, int],
                   tool: str | None = None) -> dict[str, Any]:
    inp, out, cached, written = usage
    content, stop_reason = _anthropic_content(text, finish, tool)
    return {
        "id": "msg_" + _digest(model, text),
        "type": "message",
        "role": "assistant",
        "model": reported_model_id(model),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        # Anthropic counts cache reads and writes separately from (uncached) input tokens.
        "usage": {"input_tokens": inp - cached - written, "output_tokens": out,
                  "cache_read_input_tokens": cached, "cache_creation_input_tokens": written},
    }


def reply_body(protocol: str, model: str, text: str, finish: str, usage: tuple[int, int, int, int],
               tool: str | None = None) -> dict[str, Any]:
    if protocol == "openai":
        return openai_body(model, text, finish, usage)
    return anthropic_body(model, text, finish, usage, tool)


def model_reply(protocol: str, body: dict[str, Any], fault: dict[str, Any],
                oracle: dict[str, str], cache: PromptCache) -> tuple[int, dict[str, Any]]:
    """(status, body) of a model request: what a synchronous call and a batch item both answer.

    Fault keys used here: ``content``, ``finish_reason``, ``cached_tokens``, ``echo_prefill``.
    """
    model = str(body.get("model", ""))
    if "content" in fault:
        text, finish = str(fault["content"]), "stop"
    else:
        reply = respond(model, last_user_text(body), oracle)
        if reply is None:
            return 404, error_body(protocol, 404, f"The model `{model}` does not exist (stand-in models: "
                                   "standin-oracle, standin-partial, standin-generic, standin-judge)")
        text, finish = reply.text, reply.finish_reason
        # An Anthropic assistant prefill: the reply continues it, as a real model's would.
        prefill = assistant_prefill(body) if protocol == "anthropic" else ""
        if prefill and text.startswith(prefill) and not fault.get("echo_prefill"):
            text = text[len(prefill):]
    finish = str(fault.get("finish_reason", finish))
    usage = billed_usage(cache, protocol, model, body, text, fault)
    return 200, reply_body(protocol, model, text, finish, usage, forced_tool(body) if protocol == "anthropic" else None)
