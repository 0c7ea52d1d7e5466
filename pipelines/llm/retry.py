"""Which failures are worth another attempt, and how long to wait before it.

Policy (the same for every provider, since SDK retries are off):
* retry: HTTP 408, 409, 429, 5xx (529 "overloaded" included), connection errors, timeouts,
  200s with a truncated or unparseable body (``json.JSONDecodeError`` / pydantic
  ``ValidationError`` escape the SDKs raw), and empty content;
* do not retry: other 4xx (the same request will fail the same way), empty content when the
  token budget ran out (``finish_reason=length``: retrying cannot help), anything unknown;
* a server's ``x-should-retry`` header overrides the status rule, as in the SDKs;
* wait: the server's ``retry-after-ms`` / ``retry-after`` (seconds or HTTP date) capped at
  ``retry_after_cap_s``; otherwise exponential backoff with full jitter.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import anthropic
import httpx2
import openai
import pydantic

from pipelines.llm.clients import EmptyContent

RETRYABLE_STATUS = frozenset({408, 409, 429})

_TIMEOUTS = (openai.APITimeoutError, anthropic.APITimeoutError, TimeoutError, asyncio.TimeoutError, httpx2.TimeoutException)
_CONNECTION = (openai.APIConnectionError, anthropic.APIConnectionError, httpx2.TransportError, ConnectionError)
# A 200 whose body is cut or not JSON: both SDKs let the raw parse error escape.
_MALFORMED = (
    json.JSONDecodeError,
    pydantic.ValidationError,
    openai.APIResponseValidationError,
    anthropic.APIResponseValidationError,
)


@dataclass(frozen=True)
class Failure:
    error_type: str
    message: str
    retryable: bool
    retry_after_s: float | None = None
    status: int | None = None


def parse_retry_after(headers: httpx2.Headers | dict[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date); None if absent."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if ra is None:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(ra).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _status_error(exc: openai.APIStatusError | anthropic.APIStatusError) -> Failure:
    status = exc.status_code
    headers = exc.response.headers if exc.response is not None else None
    should = (headers.get("x-should-retry") if headers is not None else None) or ""
    if should.lower() in ("true", "false"):
        retryable = should.lower() == "true"
    else:
        retryable = status in RETRYABLE_STATUS or status >= 500
    msg = getattr(exc, "message", None) or str(exc)
    return Failure(type(exc).__name__, f"HTTP {status}: {msg}", retryable, parse_retry_after(headers), status)


def classify(exc: BaseException) -> Failure:
    """Map an exception from one attempt to a :class:`Failure`."""
    if isinstance(exc, openai.APIStatusError | anthropic.APIStatusError):
        return _status_error(exc)
    # Timeouts first: APITimeoutError subclasses APIConnectionError in both SDKs.
    if isinstance(exc, _TIMEOUTS):
        return Failure("Timeout", "no complete response within the per-attempt timeout", True)
    if isinstance(exc, _CONNECTION):
        cause = exc.__cause__ or exc.__context__
        detail = f" ({type(cause).__name__})" if cause is not None else ""
        return Failure("ConnectionError", f"connection failed{detail}: {exc}", True)
    if isinstance(exc, _MALFORMED):
        return Failure("MalformedResponse", f"unparseable response body: {type(exc).__name__}: {str(exc)[:200]}", True)
    if isinstance(exc, EmptyContent):
        if exc.finish_reason == "length":
            return Failure("EmptyContent", f"{exc}: the token budget ran out before any text; raise max_tokens", False)
        return Failure("EmptyContent", str(exc), True)
    return Failure(type(exc).__name__, str(exc)[:500], False)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog), server hints capped."""

    base_s: float = 1.0
    max_s: float = 60.0
    retry_after_cap_s: float = 60.0

    def delay(self, retry_index: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry_index`` (0 = first retry)."""
        if retry_after_s is not None:
            return min(retry_after_s, self.retry_after_cap_s)
        # Full jitter spreads a thundering herd of retries evenly over the window.
        return rng.uniform(0, min(self.max_s, self.base_s * 2**retry_index))
