"""Context windows: calls that cannot fit are reported before any is sent, by `xpertbench estimate`
(which also works before anything is materialised) and by the run's preflight."""

import pytest

from pipelines.cli import main
from pipelines.cli.estimate import plan
from pipelines.cli.preflight import window_warnings
from pipelines.llm.tokens import approx_text_tokens, estimate_prompt_tokens, window_misses
from pipelines.llm.types import LLMRequest
from pipelines.settings import Settings
from tests.pipeline.helpers import models_yaml, pipeline_yaml, small_raw_folder

JUDGE = {"provider": "standin-openai", "model_id": "standin-judge", "max_tokens": 1024}


def test_token_approximation_errs_high_and_counts_cjk_per_character():
    assert approx_text_tokens("a" * 300) == 120  # 2.5 ASCII characters per token (measured 2.8-3.1; big vocabularies ~4)
    assert approx_text_tokens("合同条款") == 4  # about one token per CJK character
    req = LLMRequest(model="m", system="s" * 30, messages=[{"role": "user", "content": "u" * 60}], template_hash="t")
    assert estimate_prompt_tokens(req) == 8 + (4 + 12) + (4 + 24)  # template + per message + text


@pytest.fixture()
def fresh(tmp_path):
    """A raw folder and configs, nothing materialised (a fresh checkout)."""
    small_raw_folder(tmp_path / "raw", per_domain=1)

    def settings(judge_window: int | None, candidate_window: int | None = 100_000) -> Settings:
        extra = {"standin-judge": {**JUDGE, **({"context_window": judge_window} if judge_window else {})},
                 "oracle": {"provider": "standin-openai", "model_id": "standin-oracle", "max_tokens": 2048,
                            **({"context_window": candidate_window} if candidate_window else {})}}
        models = models_yaml(tmp_path / "models.yaml", candidates=("oracle",), extra_models=extra)
        return Settings.load(raw_dir=tmp_path / "raw", assets_dir=tmp_path / "assets",
                             config=pipeline_yaml(tmp_path / "xb.yaml"), models=models, env={})
    return settings


def test_calls_over_the_window_are_found_without_sending_anything(fresh):
    s = fresh(judge_window=2500)
    requests, _, in_memory = plan(s)
    assert in_memory  # nothing materialised: curation computed in memory
    judge_calls = [r for r in requests if r.model == "standin-judge"]
    misses = window_misses(s.models, requests)
    # Every judge prompt (task, worked example, answer, rubric) is far over 2,500 - 1,024 tokens;
    # every candidate call fits in 100,000.
    # 7 candidate answers + 7 anchors zero-shot (one task per domain: no other task's worked example)
    assert len(judge_calls) == 7 + 7 and {m.role for m in misses} == {"judge"}
    assert len(misses) == len(judge_calls)
    assert all(m.prompt_tokens + 1024 > 2500 and m.context_window == 2500 for m in misses)
    assert not (s.assets_dir / "tasks.parquet").exists()  # the plan materialised nothing


def test_run_preflight_warns_with_counts_and_a_fix(fresh):
    lines = window_warnings(fresh(judge_window=2500))
    assert len(lines) == 1
    assert lines[0].startswith("14 judge call(s) for standin-judge cannot fit its context window (largest: ")
    assert "> context_window 2,500" in lines[0] and "fix: lower judge.checkpoints_per_call" in lines[0]
    assert window_warnings(fresh(judge_window=None, candidate_window=None)) == []  # nothing declared: no check
    assert window_warnings(fresh(judge_window=200_000)) == []


def test_estimate_runs_on_a_fresh_checkout_and_reports_the_window(fresh, capsys):
    s = fresh(judge_window=2500)
    code = main(["estimate", "--raw-dir", str(s.raw_dir), "--assets-dir", str(s.assets_dir),
                 "--config", str(s.config_path), "--models", str(s.models_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "computed in memory" in out and "Dry run" in out
    assert "context window:" in out and "14 judge call(s) for standin-judge cannot fit" in out
