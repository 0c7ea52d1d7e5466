"""Provider prompt caching, simulated: what the stand-in server bills, and what estimates and
bench/cost.py count, for the same prompts in the same order.

Tokens: the stand-in's tokeniser cuts the prompt text (system, then each message's role and text) into
pieces of four characters, about what real tokenisers give for English prose. Two prompts share a
cached prefix only if their texts share it, whatever the content blocks they were sent in.

* OpenAI (automatic): a prompt of at least 1,024 tokens is cached; a later prompt that starts with a
  cached prefix reads the longest one, in 128-token steps from 1,024 (``cached_tokens``).
* Anthropic (explicit): only prefixes that end at a ``cache_control`` breakpoint are cached, once at
  least 1,024 tokens long. A request reads the longest breakpoint prefix already cached
  (``cache_read_input_tokens``) and writes the rest up to its last breakpoint
  (``cache_creation_input_tokens``); ``input_tokens`` is what remains uncached.

Entries never expire here (real caches keep them 5-10 minutes after last use: a run's calls for one
task come minutes apart at most, the judge's calls for a task in the same partition run).
Caches are per model, as the providers' are.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4
OPENAI_MIN_TOKENS, OPENAI_STEP = 1024, 128
ANTHROPIC_MIN_TOKENS = 1024  # Claude Sonnet/Opus; Haiku needs 2,048


@dataclass(frozen=True)
class Usage:
    """A call's prompt tokens split the way it is billed: input_tokens is the whole prompt."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0  # read from the cache
    cache_write_tokens: int = 0  # written to the cache (Anthropic)

    @property
    def uncached_tokens(self) -> int:
        return self.input_tokens - self.cached_tokens - self.cache_write_tokens


def _blocks(content: Any) -> list[tuple[str, bool]]:
    """(text, has cache_control) per block of a message's or system's content."""
    if isinstance(content, str):
        return [(content, False)]
    if isinstance(content, list):
        return [(str(b.get("text", "")), bool(b.get("cache_control"))) for b in content if isinstance(b, dict)]
    return []


def prompt_layout(body: dict[str, Any]) -> tuple[str, list[int]]:
    """(the prompt text as the tokeniser sees it, character offsets where a cache_control block ends)."""
    parts: list[str] = []
    breaks: list[int] = []
    n = 0

    def add(text: str, mark: bool) -> None:
        nonlocal n
        parts.append(text)
        n += len(text)
        if mark:
            breaks.append(n)

    system = body.get("system")
    for text, mark in _blocks(system) if system else []:
        add(text, mark)
    for m in body.get("messages") or []:
        if not isinstance(m, dict):
            continue
        add(f"\n<{m.get('role')}>\n", False)
        for text, mark in _blocks(m.get("content")):
            add(text, mark)
    return "".join(parts), breaks


def count_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class PromptCache:
    """Prefix hashes seen per model; thread-safe (the server answers from many threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[tuple[str, int, str]] = set()

    @staticmethod
    def _digest(text: str, tokens: int) -> str:
        return hashlib.sha256(text[: tokens * CHARS_PER_TOKEN].encode("utf-8")).hexdigest()

    def usage(self, protocol: str, model: str, body: dict[str, Any], output_tokens: int) -> Usage:
        text, breaks = prompt_layout(body)
        total = count_tokens(text)
        if protocol == "openai":
            return self._openai(model, text, total, output_tokens)
        return self._anthropic(model, text, total, [b // CHARS_PER_TOKEN for b in breaks], output_tokens)

    def _openai(self, model: str, text: str, total: int, out: int) -> Usage:
        steps = list(range(OPENAI_MIN_TOKENS, total + 1, OPENAI_STEP))
        keys = [(model, t, self._digest(text, t)) for t in steps]
        with self._lock:
            hit = max((k[1] for k in keys if k in self._seen), default=0)
            self._seen.update(keys)
        return Usage(total, out, cached_tokens=hit)

    def _anthropic(self, model: str, text: str, total: int, breaks: list[int], out: int) -> Usage:
        points = sorted({b for b in breaks if b >= ANTHROPIC_MIN_TOKENS})
        keys = [(model, t, self._digest(text, t)) for t in points]
        with self._lock:
            read = max((k[1] for k in keys if k in self._seen), default=0)
            self._seen.update(keys)
        written = (points[-1] - read) if points else 0
        return Usage(total, out, cached_tokens=read, cache_write_tokens=written)


def request_body(protocol: str, system: str | None, messages: list[dict[str, str]],
                 cache_prefix_chars: int | None) -> dict[str, Any]:
    """The prompt part of the body the clients send (llm/clients.py), for the simulation without a server:
    OpenAI puts the system prompt first among the messages; Anthropic marks the shared prefix of the last
    user message with cache_control."""
    if protocol == "openai":
        return {"messages": ([{"role": "system", "content": system}] if system is not None else []) + messages}
    last = messages[-1]["content"]
    msgs: list[dict[str, Any]] = list(messages)
    if cache_prefix_chars is not None and cache_prefix_chars < len(last):
        msgs[-1] = {"role": "user", "content": [
            {"type": "text", "text": last[:cache_prefix_chars], "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": last[cache_prefix_chars:]}]}
    return {"system": system, "messages": msgs}
