"""Fixtures for the LLM layer: stand-in servers on 127.0.0.1, small configs, fast retry policies.

Every server is started by a fixture and stopped in its finalizer; nothing talks to anything
but 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llm_helpers import make_config

from pipelines.llm import LLMRunner, StandinServer


@pytest.fixture
def server() -> Iterator[StandinServer]:
    srv = StandinServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "calls.sqlite"


@pytest.fixture
def runner_for(server: StandinServer, store_path: Path) -> Iterator[Any]:
    """Factory: a runner on the fixture server (closed at teardown); log lines collected in .lines.

    ``clock=FakeClock()`` gives it virtual time for limits, backoff and deadlines."""
    made: list[LLMRunner] = []

    def make(**kw: Any) -> LLMRunner:
        lines: list[str] = []
        store = kw.pop("store", store_path)
        clock = kw.pop("clock", None)
        r = LLMRunner(make_config(server.base_url, **kw), store, log=lines.append, progress=False, seed=1,
                      clock=clock)
        r.lines = lines  # type: ignore[attr-defined]
        made.append(r.start())
        return r

    try:
        yield make
    finally:
        for r in made:
            r.close()
