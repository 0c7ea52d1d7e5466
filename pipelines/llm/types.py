"""What goes into the call layer (LLMRequest) and what comes out (LLMResult)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["user", "assistant"]


class LLMRequest(BaseModel):
    """One chat call, provider-neutral. Everything except ``tags`` determines the answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(description="model name in the models config (not the provider's id)")
    messages: list[dict[str, str]] = Field(min_length=1)
    system: str | None = None
    template_hash: str = Field(min_length=1, description="hash of the prompt template that produced it")
    replicate: int = Field(default=0, ge=0)
    # A caller-level retry (e.g. the judge re-asked after an invalid reply). Part of the call key,
    # so the re-ask is a new call instead of a store hit returning the same invalid reply.
    attempt: int = Field(default=0, ge=0)
    response_format: Literal["text", "json"] = "text"
    # The reply's JSON schema, sent when the model's structured_output mode uses one (json_schema,
    # tool); otherwise only part of the key.
    json_schema: dict[str, Any] | None = None
    # Overrides the model's max_tokens for this call (e.g. a truncated answer regenerated with a
    # larger limit). In the key as the max_tokens actually sent.
    max_tokens: int | None = Field(default=None, ge=1)
    tags: dict[str, str] = Field(default_factory=dict, description="bookkeeping only; not in the key")
    # How many characters at the start of the last user message are the same for a family of calls
    # (the judge prompt's part shared by every candidate of a task). Anthropic requests mark that
    # prefix with cache_control; the text sent is the same either way, so it is not in the key.
    cache_prefix_chars: int | None = Field(default=None, ge=1)

    @field_validator("messages")
    @classmethod
    def _messages(cls, v: list[dict[str, str]]) -> list[dict[str, str]]:
        for i, m in enumerate(v):
            if set(m) != {"role", "content"}:
                raise ValueError(f"messages[{i}]: keys must be exactly role and content, got {sorted(m)}")
            if m["role"] not in ("user", "assistant"):
                raise ValueError(f"messages[{i}]: role must be user or assistant (system goes in `system`)")
            if not isinstance(m["content"], str):
                raise ValueError(f"messages[{i}]: content must be a string")
        if v[-1]["role"] != "user":
            raise ValueError("the last message must be from the user")
        return v

    @property
    def last_user_text(self) -> str:
        return self.messages[-1]["content"]


class LLMResult(BaseModel):
    """Outcome of one request. ``ok=False`` carries the error instead of raising."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    call_key: str
    model: str = Field(description="model name in the models config")
    ok: bool
    text: str = ""
    model_reported: str | None = Field(default=None, description="model id the API returned")
    finish_reason: str | None = Field(default=None, description="stop | length | content_filter | raw value")
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = Field(default=0, description="part of input_tokens served from the provider's cache")
    cache_write_tokens: int = Field(default=0, description="part of input_tokens written to the provider's cache "
                                    "(Anthropic cache_creation_input_tokens)")
    latency_s: float = 0.0
    cost_usd: float = 0.0
    from_store: bool = False
    attempts: int = Field(default=0, description="HTTP attempts made in this run (0 for a store hit)")
    error_type: str | None = None
    error_message: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    # How the answer was obtained: one request (sync) or the provider's batch API (pipelines/llm/batch.py).
    mode: Literal["sync", "batch"] = "sync"
    batch_id: str | None = None
