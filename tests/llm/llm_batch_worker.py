"""Child process of the batch kill test: run three batch-mode calls against a stand-in until killed.

    python tests/llm/llm_batch_worker.py BASE_URL STORE_PATH
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parent)]

from test_llm_batch import batch_config, prompts  # noqa: E402

from pipelines.llm import LLMRunner  # noqa: E402


def main(base_url: str, store: str) -> None:
    # Real clock, short poll interval: the parent kills this process while it polls.
    cfg = batch_config(base_url, "openai", batch_poll_s=0.02)
    with LLMRunner(cfg, Path(store), progress=False) as llm:
        llm.run(prompts(3), desc="gen")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
