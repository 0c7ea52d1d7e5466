"""Keep API keys out of error text and logs.

The runner redacts every key named by any provider of the models config (each set `api_key_env`
variable), not only those of providers whose clients this run built: one provider's error reply
can echo another provider's key (a shared proxy, a misconfigured gateway, a user pasting the wrong
key into a base URL).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from pipelines.llm.config import ModelsConfig

REDACTED = "[redacted]"
_MIN_SECRET_CHARS = 4  # a variable set to "1" or "x" would otherwise blank every digit of a message


def configured_secrets(config: ModelsConfig, environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The values of every provider's `api_key_env` variable that is set (raw and stripped)."""
    env = os.environ if environ is None else environ
    found = set()
    for p in config.providers.values():
        value = env.get(p.api_key_env, "") if p.api_key_env else ""
        found.update(v for v in (value, value.strip()) if len(v) >= _MIN_SECRET_CHARS)
    return frozenset(found)


def redact(text: str | None, secrets: Iterable[str]) -> str | None:
    """`text` with every secret replaced; longest first, so a key containing another is fully hidden."""
    if text is None:
        return None
    for s in sorted(secrets, key=len, reverse=True):
        if s:
            text = text.replace(s, REDACTED)
    return text
