"""Child-process body for the concurrent-writer test (importable by multiprocessing's spawn)."""

from __future__ import annotations

import time
from pathlib import Path


def write_rows(path: str, worker: int, n: int, shared: int, start_at: float = 0.0) -> int:
    from pipelines.llm.store import CallStore

    store = CallStore(Path(path))
    time.sleep(max(0.0, start_at - time.time()))  # all workers write at the same moment
    new = 0
    for i in range(n):
        # Some keys are written by every worker (first writer wins), most by this one only.
        key = f"shared-{i}" if i < shared else f"w{worker}-{i}"
        request = {"model_id": "standin-generic", "provider": {"kind": "standin"}, "i": i}
        response = {"text": f"from worker {worker}", "usage": {"input_tokens": 1, "output_tokens": 2}}
        new += store.put(key, "m", request, response)
    store.close()
    return new
