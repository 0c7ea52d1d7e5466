"""`xpertbench estimate` per mode: calls, tokens (cached and not) and dollars for synchronous, cached and
batch modes, at the configured prices; nothing is sent."""

import re

import pytest

from rich.console import Console

from pipelines.cli.estimate import plan, print_estimate
from pipelines.llm.runner import LLMRunner
from pipelines.settings import Settings
from tests.pipeline.helpers import models_yaml, pipeline_yaml, small_raw_folder

JUDGE = {"provider": "standin-openai", "model_id": "standin-judge", "max_tokens": 1024,
         "price_input_per_mtok": 2.0, "price_output_per_mtok": 8.0, "input_cached_per_mtok": 0.2,
         "batch_discount": 0.5}
ORACLE = {"provider": "standin-openai", "model_id": "standin-oracle", "max_tokens": 2048,
          "price_input_per_mtok": 1.0, "price_output_per_mtok": 4.0, "expected_output_tokens": 600}


@pytest.fixture()
def settings(tmp_path) -> Settings:
    small_raw_folder(tmp_path / "raw", per_domain=1)
    models = models_yaml(tmp_path / "models.yaml", candidates=("oracle", "generic"),
                         extra_models={"standin-judge": JUDGE, "oracle": ORACLE,
                                       "generic": {**ORACLE, "model_id": "standin-generic",
                                                   "expected_output_tokens": 300}})
    return Settings.load(raw_dir=tmp_path / "raw", assets_dir=tmp_path / "assets",
                         config=pipeline_yaml(tmp_path / "xb.yaml"), models=models, env={})


def test_cached_mode_reads_each_task_prefix_once_per_later_candidate(settings):
    requests, _, _ = plan(settings)
    with LLMRunner(settings.models, settings.call_store_url, progress=False) as runner:
        est = runner.estimate(requests)
    judge = est.per_model["standin-judge"]
    # Candidate 2's judge prompts share each task's prefix (system + shared part) with candidate 1's: read
    # from the cache, in 128-token steps. Nothing else is (the agreement study's prompts are all distinct).
    second = [r for r in requests if r.model == "standin-judge" and "candidate" not in r.tags][7:14]
    shared = sum(len(r.system or "") + (r.cache_prefix_chars or 0) for r in second) / 4
    assert 0.8 * shared < judge.cached_tokens <= 1.02 * shared
    assert judge.cost_cached_usd < judge.cost_usd and judge.cost_batch_usd == pytest.approx(judge.cost_cached_usd * 0.5)
    # Generation prompts are different for every call of a model's partition... and distinct models never
    # share a cache: nothing cached.
    assert est.per_model["oracle"].cached_tokens == 0
    # The figures are the tokens priced at the configured rates.
    m = settings.models.model("standin-judge")
    assert judge.cost_cached_usd == pytest.approx(
        m.cost_usd(judge.input_tokens, judge.output_tokens, judge.cached_tokens), rel=1e-6)
    assert est.cost_batch_usd == pytest.approx(sum(e.cost_batch_usd for e in est.per_model.values()))


def test_estimate_prints_calls_tokens_and_dollars_per_mode(settings):
    console = Console(width=220, record=True)
    assert print_estimate(settings, console=console) == 0
    out = console.export_text()
    header = next(line for line in out.splitlines() if "in store" in line)
    for col in ("cache read", "cache write", "uncached", "sync $", "cached $", "batch $"):
        assert col in header
    total = next(line for line in out.splitlines() if "total" in line)
    sync, cached, batch = (float(x) for x in re.findall(r"\d+\.\d{4}", total)[-3:])
    assert batch < cached < sync
