"""Judgements: ShotJudge grades every candidate answer, checkpoint by checkpoint (per model)."""

import dagster as dg
import pandas as pd

from pipelines.core.columns import fmt
from pipelines.core.judge_prompt import WorkedExample, judge_template_hash
from pipelines.core.judging import VERDICT_ERRORS, JudgeJob, judge_config_hash, run_judging, verdict_frame
from pipelines.defs.common import AUTO, Build, hashed_output, submissions_by_id
from pipelines.defs.columns import counts_table, ui_table
from pipelines.defs.resources import LLMResource, XpertBenchResource

GROUP = "judging"
def judgements(context: dg.AssetExecutionContext, xpertbench: XpertBenchResource, llm: LLMResource,
               generations: pd.DataFrame, tasks: pd.DataFrame, gold_tasks: pd.DataFrame) -> dg.Output:
    model = context.partition_key
    cfg = xpertbench.config().judge
    models = xpertbench.models()
    subs = submissions_by_id(tasks, gold_tasks["task_id"])
    jobs, extra = [], {}
    for g in generations[generations["ok"] & generations["task_id"].isin(subs.keys())].itertuples():
        s = subs[g.task_id]
        if cfg.mode == "shotjudge" and s.anchor is not None:
            example, mode = WorkedExample(s, s.anchor), "shotjudge"
        else:
            example, mode = None, ("zeroshot" if cfg.mode == "zeroshot" else "zeroshot_fallback")
        key = (g.task_id, model, str(g.replicate))
        jobs.append(JudgeJob(key, s, g.answer, example, mode, {"task_id": g.task_id, "candidate": model}))
        extra[key] = {"task_id": g.task_id, "model": model, "generation_call_key": g.call_key}
    fallback = sorted({j.key[0] for j in jobs if j.mode == "zeroshot_fallback"})
    if fallback:
        context.log.warning(f"{len(fallback)} tasks have no anchor; judged zero-shot: {', '.join(fallback)}")
    runner = llm.runner
    verdicts = run_judging(jobs, lambda reqs: runner.run(reqs, desc=f"judgements[{model}]", check=VERDICT_ERRORS),
                           judge_model=models.judge, template_version=cfg.template_version,
                           per_call=cfg.checkpoints_per_call, max_attempts=cfg.max_attempts, reject=runner.reject,
                           rationale_max_chars=cfg.rationale_max_chars)
    df = verdict_frame(verdicts, jobs, models.judge, cfg.template_version, judge_config_hash(cfg, models), extra)
    errors = df[df["verdict"] == "judge_error"]
    kinds = errors["error_kind"].fillna("unclassified").value_counts()
    if len(errors):  # on the console (warnings show there), not only in the metadata
        context.log.warning(f"judgements[{model}]: {len(errors)} of {len(df)} verdicts are judge errors ("
                            + ", ".join(f"{k} {v}" for k, v in kinds.items()) + ")")
    version_cols = ["task_id", "checkpoint_id", "verdict", "judge_call_key"]
    out = hashed_output(df[version_cols], metadata={
        "verdicts": len(df), "judge_errors": len(errors),
        "judge_error_rate": f"{fmt(len(errors) / len(df), 'percent')}%" if len(df) else "0.0%",
        "by_verdict": counts_table(df["verdict"], "verdict"),
        "judge_errors_by_kind": counts_table(errors["error_kind"].fillna("unclassified"), "error_kind"),
        "by_mode": counts_table(df["judge_mode"], "judge_mode"),
        "zero_shot_fallback_tasks": len(fallback),
        "judge_model": models.judge,
        "judge_config": judge_config_hash(cfg, models),
        "judge_template_hash": judge_template_hash(cfg.template_version, cfg.mode)[:16],
        "model_reported": ", ".join(sorted(set(df["judge_model_reported"].dropna()))),
        "errors": ui_table(errors[["task_id", "checkpoint_id", "error_kind", "error_reason"]], 20),
    })
    return dg.Output(df, data_version=out.data_version, metadata=out.metadata)


def build(b: Build) -> list:
    """This stage's assets and checks, versioned and partitioned by the run's settings."""
    return [
        dg.asset(
            group_name=GROUP, automation_condition=AUTO, code_version=b.versions["judgements"], kinds={"openai", "anthropic", "parquet"},
            partitions_def=b.partitions, pool="llm",
            ins={"generations": dg.AssetIn(), "tasks": dg.AssetIn(), "gold_tasks": dg.AssetIn()},
            description="ShotJudge verdicts: one row per (task, model, checkpoint), met / not_met / judge_error "
            "with the judge's rationale. The judge sees the task, the rubric and the task's expert-graded anchor "
            "answer as a worked example; tasks without an anchor fall back to zero-shot and are flagged. A judge "
            "failure is recorded with its raw reply and is never a score.",
        )(judgements),
    ]
