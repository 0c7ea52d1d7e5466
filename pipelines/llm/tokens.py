"""Prompt tokens of a call before it is sent, and the calls that cannot fit a model's context window.

No tokenizer is bundled: tiktoken fetches its vocabularies from the network on first use (not
possible offline, and only right for OpenAI models anyway), and Anthropic and llama.cpp count
tokens server-side only. The count is an approximation that errs high, since its job is to warn
before a call that cannot fit: one token per 2.5 ASCII characters, one per other character (CJK
text is about one token per character), plus a few tokens per message for the chat template.
Measured by `make test-real` against llama.cpp's tokenizer for SmolLM2 (a 49k vocabulary) on real
judge prompts (English prose, JSON rubric): 2.8-3.1 characters per token, so 3.0 per token would
undercount by up to 6%; 2.5 overcounts by 13-25%. Large vocabularies (GPT-4o, Llama 3) run nearer 4
characters per token, where the estimate overcounts more: a warning then errs on the safe side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.llm.config import ModelsConfig
from pipelines.llm.types import LLMRequest

CHARS_PER_TOKEN_ASCII = 2.5  # see the module docstring
TOKENS_PER_MESSAGE = 4  # role markers and separators of a chat template
TOKENS_PER_PROMPT = 8  # the template's start and the assistant turn's header


def approx_text_tokens(text: str) -> int:
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_chars / CHARS_PER_TOKEN_ASCII) + (len(text) - ascii_chars)


def estimate_prompt_tokens(request: LLMRequest) -> int:
    parts = ([request.system] if request.system else []) + [m["content"] for m in request.messages]
    return TOKENS_PER_PROMPT + sum(TOKENS_PER_MESSAGE + approx_text_tokens(p) for p in parts)


@dataclass(frozen=True)
class WindowMiss:
    """A call whose prompt plus max_tokens exceeds its model's context_window."""

    model: str
    role: str
    task_id: str
    prompt_tokens: int
    max_tokens: int
    context_window: int

    def __str__(self) -> str:
        return (f"{self.model} ({self.role}, task {self.task_id}): ~{self.prompt_tokens:,} prompt tokens + "
                f"max_tokens {self.max_tokens:,} > context_window {self.context_window:,}")


def window_misses(config: ModelsConfig, requests: Sequence[LLMRequest]) -> list[WindowMiss]:
    """Calls that cannot fit, for models with a context_window; nothing is sent."""
    out = []
    for r in requests:
        m = config.model(r.model)
        if m.context_window is None:
            continue
        prompt, max_tokens = estimate_prompt_tokens(r), r.max_tokens or m.max_tokens
        if prompt + max_tokens > m.context_window:
            out.append(WindowMiss(r.model, r.tags.get("role", "call"), r.tags.get("task_id", "-"), prompt,
                                  max_tokens, m.context_window))
    return out


def summarize_misses(misses: Sequence[WindowMiss], limit: int = 3) -> list[str]:
    """One line per (model, role): how many calls cannot fit, the largest, and a fix."""
    groups: dict[tuple[str, str], list[WindowMiss]] = {}
    for w in misses:
        groups.setdefault((w.model, w.role), []).append(w)
    lines = []
    for (model, role), ws in sorted(groups.items()):
        worst = max(ws, key=lambda w: w.prompt_tokens)
        tasks = sorted({w.task_id for w in ws})
        more = f" and {len(tasks) - limit} more" if len(tasks) > limit else ""
        fix = ("lower judge.checkpoints_per_call or the judge's max_tokens, or use a model with a larger window"
               if role == "judge" else "lower max_tokens or use a model with a larger window")
        lines.append(f"{len(ws)} {role} call(s) for {model} cannot fit its context window (largest: {worst}); "
                     f"tasks {', '.join(tasks[:limit])}{more}; fix: {fix}")
    return lines
