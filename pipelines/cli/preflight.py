"""Checks made before any work: each problem is one line naming the file, field or variable and the fix."""

from __future__ import annotations

import os
import socket
import threading
import time
from urllib.parse import urlsplit

from pipelines.settings import Problem, Settings


def check(s: Settings, *, connect_timeout_s: float = 2.0) -> list[Problem]:
    problems: list[Problem] = []
    if not s.raw_dir.is_dir():
        problems.append(Problem(str(s.raw_dir), "raw submissions folder does not exist",
                                "create it and add submission files, or set XPERTBENCH_RAW_DIR / --raw-dir"))
    elif not any(s.raw_dir.rglob("*.json")):
        problems.append(Problem(str(s.raw_dir), "raw submissions folder has no *.json submission files",
                                "add submissions (see raw_submissions/README.md) or point --raw-dir elsewhere"))
    used = [*s.models.candidates, s.models.judge]
    seen: set[str] = set()
    endpoints: dict[str, str] = {}
    for name in used:
        pname = s.models.model(name).provider
        if pname in seen:
            continue
        seen.add(pname)
        p = s.models.providers[pname]
        if p.api_key_env and not os.environ.get(p.api_key_env, "").strip():
            problems.append(Problem(f"environment variable {p.api_key_env}",
                                    f"not set (provider {pname!r} used by {name!r})",
                                    f"export {p.api_key_env}=... before running"))
        url = p.base_url or SDK_DEFAULT_URL.get(p.kind, lambda: None)()
        if url:
            endpoints[pname] = url
    for pname, problem in _connect_all(endpoints, connect_timeout_s).items():
        if problem:
            field = "base_url" if s.models.providers[pname].base_url else f"base_url (unset: {endpoints[pname]})"
            problems.append(Problem(f"{s.models_path}: providers.{pname}.{field}", problem,
                                    "start the server or correct base_url"))
    return problems


# Where the SDKs send requests when a provider has no base_url (they read these variables too).
SDK_DEFAULT_URL = {
    "openai": lambda: os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1",
    "anthropic": lambda: os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com",
}


def _connect_all(endpoints: dict[str, str], timeout_s: float) -> dict[str, str | None]:
    """Every endpoint at once, so the whole check takes one timeout however many there are. Daemon
    threads, because a name lookup has no timeout of its own: one still hanging is reported."""
    results: dict[str, str | None] = {}

    def probe(name: str, url: str) -> None:
        results[name] = _connect(url, timeout_s)

    threads = [threading.Thread(target=probe, args=item, daemon=True) for item in endpoints.items()]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout_s + 1.0
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return {name: results.get(name, f"no answer from {urlsplit(url).hostname} within {timeout_s + 1:g} s "
                                    "(name lookup or connect hangs)") for name, url in endpoints.items()}


def _connect(url: str, timeout_s: float) -> str | None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except ConnectionRefusedError:
        return f"connection refused at {host}:{port}"
    except socket.gaierror as e:
        return f"host {host!r} cannot be resolved ({e.strerror})"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout_s:g} s (timed out)"
    except OSError as e:
        return f"cannot connect to {host}:{port}: {e.strerror or e}"


def window_warnings(s: Settings) -> list[str]:
    """Calls of a full run that cannot fit their model's context window, found before any is sent.

    Only when some model declares a context_window: it costs an in-memory curation (the materialised
    one may be stale). Warnings, not problems: the run goes on (one task's problem never stops it),
    and such a call fails on its own with the server's error, named per task.
    """
    if not any(m.context_window for m in s.models.models.values()):
        return []
    from pipelines.cli.estimate import plan
    from pipelines.llm.tokens import summarize_misses, window_misses

    requests, _, _ = plan(s, in_memory=True)
    return summarize_misses(window_misses(s.models, requests))
