"""Judge vs expert agreement on the anchor answers of Gold tasks, outside Dagster.

The same jobs, judge loop and summary as the `judge_agreement` asset (pipelines/defs/agreement.py),
on the configured judge (default: the stand-in judge of models.yaml), with a throwaway call store,
so the figure can be taken before and after a judge-prompt change without touching `assets/`.

    .venv/bin/python bench/judge_agreement.py                       # sample corpus, models.yaml
    .venv/bin/python bench/judge_agreement.py --models models.paper.yaml   # a real judge (costs money)

With the stand-in judge the figure checks the machinery (the lexical rule reads the candidate and
the rubric out of the prompt, so a layout that breaks either shows up as lost agreement); it says
nothing about how well a real model grades.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.core.agreement import summary_table  # noqa: E402
from pipelines.core.anchors import agreement_jobs  # noqa: E402
from pipelines.core.curation_plan import curate_in_memory  # noqa: E402
from pipelines.core.judge_prompt import judge_template_hash  # noqa: E402
from pipelines.core.judging import judge_config_hash, run_judging, verdict_frame  # noqa: E402
from pipelines.llm.runner import LLMRunner  # noqa: E402
from pipelines.settings import Settings  # noqa: E402


def agreement(settings: Settings) -> tuple[pd.DataFrame, int, str]:
    """(summary table, judge calls sent, judge template hash of the ShotJudge prompts)."""
    cfg, models = settings.pipeline, settings.models
    pool, gold_ids = curate_in_memory(settings.raw_dir, cfg)
    jobs, extra, expert, _ = agreement_jobs([pool[t] for t in gold_ids], pool.values())
    with tempfile.TemporaryDirectory() as tmp, LLMRunner(models, Path(tmp) / "calls.sqlite", progress=False) as runner:
        verdicts = run_judging(jobs, lambda reqs: runner.run(reqs, desc="judge_agreement"),
                               judge_model=models.judge, template_version=cfg.judge.template_version,
                               per_call=cfg.judge.checkpoints_per_call, max_attempts=cfg.judge.max_attempts,
                               reject=runner.reject, rationale_max_chars=cfg.judge.rationale_max_chars)
        calls = len(runner.store)
    ch = judge_config_hash(cfg.judge, models)
    df = verdict_frame(verdicts, jobs, models.judge, cfg.judge.template_version, ch, extra)
    df["expert_met"] = [expert[(t, c)] for t, c in zip(df["task_id"], df["checkpoint_id"])]
    summary = summary_table(df, cfg.agreement.bootstrap_samples, cfg.agreement.seed, ch)
    return summary, calls, judge_template_hash(cfg.judge.template_version, "shotjudge")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="models config (default: the settings' models.yaml)")
    ap.add_argument("--raw-dir", help="raw submissions folder (default: the settings' raw folder)")
    args = ap.parse_args(argv)
    settings = Settings.load(models=args.models, raw_dir=args.raw_dir)
    summary, calls, th = agreement(settings)
    overall = summary[summary["scope"] == "Overall"]
    cols = ["benchmark", "judge_mode", "n_tasks", "n_labels", "n_judge_errors", "agreement", "cdr", "kappa",
            "balanced_f1"]
    print(f"judge {settings.models.judge}, template {settings.pipeline.judge.template_version} "
          f"(hash {th[:12]}), {calls} judge calls")
    print(overall[cols].to_markdown(index=False, floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
