"""Judge meta-evaluation: the judge grades expert-verified anchor answers; compare with the experts."""

import dagster as dg
import pandas as pd

from pipelines.core.agreement import summary_table
from pipelines.core.anchors import agreement_jobs
from pipelines.core.judging import VERDICT_ERRORS, judge_config_hash, run_judging, verdict_frame
from pipelines.defs.common import AUTO, Build, hashed_output, md_table, submissions_by_id
from pipelines.defs.resources import LLMResource, XpertBenchResource

GROUP = "judging"


def judge_meta_evaluation(context: dg.AssetExecutionContext, xpertbench: XpertBenchResource, llm: LLMResource,
                          tasks: pd.DataFrame, gold_tasks: pd.DataFrame):
    cfg = xpertbench.config()
    models = xpertbench.models()
    pool = submissions_by_id(tasks)
    jobs, extra, expert, skipped = agreement_jobs([pool[t] for t in gold_tasks["task_id"]], pool.values())
    for tid in skipped:
        context.log.warning(f"{tid}: no other anchored task in its domain; ShotJudge agreement skipped")
    runner = llm.runner
    verdicts = run_judging(jobs, lambda reqs: runner.run(reqs, desc="judge_agreement", check=VERDICT_ERRORS),
                           judge_model=models.judge, template_version=cfg.judge.template_version,
                           per_call=cfg.judge.checkpoints_per_call, max_attempts=cfg.judge.max_attempts, reject=runner.reject,
                           rationale_max_chars=cfg.judge.rationale_max_chars)
    ch = judge_config_hash(cfg.judge, models)
    df = verdict_frame(verdicts, jobs, models.judge, cfg.judge.template_version, ch, extra)
    # Only checkpoints the experts graded take part in the comparison.
    df["expert_met"] = [expert.get((t, c)) for t, c in zip(df["task_id"], df["checkpoint_id"])]
    df = df[df["expert_met"].notna()].reset_index(drop=True)
    summary = summary_table(df, cfg.agreement.bootstrap_samples, cfg.agreement.seed, ch)
    yield hashed_output(df, "anchor_judgements", {"verdicts": len(df), "tasks": df["task_id"].nunique()})
    yield hashed_output(summary, "judge_agreement", {
        "table": md_table(summary[["judge_mode", "scope", "n_tasks", "agreement", "cdr", "kappa", "balanced_f1"]]),
        "gold_tasks_with_anchor": len({j.key[0] for j in jobs}),
    })


def build(b: Build) -> list:
    """This stage's assets and checks, versioned and partitioned by the run's settings."""
    return [
        dg.multi_asset(
            outs={
                "anchor_judgements": dg.AssetOut(
                    group_name=GROUP, automation_condition=AUTO, code_version=b.versions["agreement"], kinds={"openai", "parquet"},
                    description="The judge's verdicts on the expert-graded anchor answers of Gold tasks, beside the "
                    "experts' verdicts, in ShotJudge mode (worked example from another task of the same domain) and "
                    "zero-shot mode.",
                ),
                "judge_agreement": dg.AssetOut(
                    group_name=GROUP, automation_condition=AUTO, code_version=b.versions["agreement"], kinds={"pandas", "parquet"},
                    description="Judge vs expert agreement: raw agreement, CDR = P(agree) - P(disagree) (the paper's "
                    "metric), Cohen's kappa and balanced F1, overall and per domain, with task-level bootstrap CIs; "
                    "ShotJudge and zero-shot side by side.",
                ),
            },
            ins={"tasks": dg.AssetIn(), "gold_tasks": dg.AssetIn()},
        )(judge_meta_evaluation),
    ]
