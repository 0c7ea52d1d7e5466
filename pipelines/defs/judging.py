"""Judgements: ShotJudge grades every candidate answer, checkpoint by checkpoint (per model)."""

import dagster as dg
import pandas as pd

from pipelines.core.judge_prompt import WorkedExample, judge_template_hash
from pipelines.core.judging import JudgeJob, run_judging
from pipelines.core.frames import stable_json, sha256_text
from pipelines.defs import versions
from pipelines.defs.common import AUTO, counts_md, hashed_output, md_table, submissions_by_id
from pipelines.defs.partitions import candidate_partitions
from pipelines.defs.resources import XpertBenchResource
from pipelines.llm.runner import LLMRunner

GROUP = "judging"
COLUMNS = [
    "task_id", "model", "checkpoint_id", "verdict", "met", "rationale", "error_reason", "raw_reply",
    "judge_call_key", "judge_attempt", "judge_model", "judge_model_reported", "judge_mode",
    "example_task_id", "judge_template_hash", "judge_config", "generation_call_key",
]


def judge_config_hash(xpertbench: XpertBenchResource) -> str:
    """What the judge was: its section of xpertbench.yaml and its entry in models.yaml."""
    cfg, models = xpertbench.config().judge, xpertbench.models()
    judge = models.model(models.judge)
    return sha256_text(stable_json({"judge": cfg.model_dump(mode="json"), "model": models.judge,
                                    "model_config": judge.model_dump(mode="json")}))[:16]


def verdict_rows(verdicts, jobs, judge_model: str, template_version: str, config_hash: str,
                 extra: dict[tuple, dict]) -> pd.DataFrame:
    mode = {j.key: j.mode for j in jobs}
    example = {j.key: (j.example.same_task_as if j.example else None) for j in jobs}
    rows = []
    for v in verdicts:
        rows.append({
            **extra[v.job_key], "checkpoint_id": v.checkpoint_id, "verdict": v.verdict,
            "met": None if v.verdict == "judge_error" else v.verdict == "met",
            "rationale": v.rationale, "error_reason": v.error_reason, "raw_reply": v.raw_reply,
            "judge_call_key": v.call_key, "judge_attempt": v.attempt, "judge_model": judge_model,
            "judge_model_reported": v.model_reported, "judge_mode": mode[v.job_key],
            "example_task_id": example[v.job_key],
            "judge_template_hash": judge_template_hash(
                template_version, "zeroshot" if mode[v.job_key] != "shotjudge" else "shotjudge"),
            "judge_config": config_hash,
        })
    return pd.DataFrame(rows)


@dg.asset(
    group_name=GROUP, automation_condition=AUTO, code_version=versions.JUDGEMENTS, kinds={"openai", "anthropic", "parquet"},
    partitions_def=candidate_partitions, pool="llm",
    ins={"generations": dg.AssetIn(), "tasks": dg.AssetIn(), "gold_tasks": dg.AssetIn()},
    description="ShotJudge verdicts: one row per (task, model, checkpoint), met / not_met / judge_error "
    "with the judge's rationale. The judge sees the task, the rubric and the task's expert-graded anchor "
    "answer as a worked example; tasks without an anchor fall back to zero-shot and are flagged. A judge "
    "failure is recorded with its raw reply and is never a score.",
)
def judgements(context: dg.AssetExecutionContext, xpertbench: XpertBenchResource,
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
    with LLMRunner(models, xpertbench.call_store_path, log=context.log.info) as runner:
        verdicts = run_judging(jobs, lambda reqs: runner.run(reqs, desc=f"judgements[{model}]"),
                               judge_model=models.judge, template_version=cfg.template_version,
                               per_call=cfg.checkpoints_per_call, max_attempts=cfg.max_attempts)
    df = verdict_rows(verdicts, jobs, models.judge, cfg.template_version, judge_config_hash(xpertbench), extra)
    df = df.reindex(columns=COLUMNS)
    errors = df[df["verdict"] == "judge_error"]
    version_cols = ["task_id", "checkpoint_id", "verdict", "judge_call_key"]
    out = hashed_output(df[version_cols], metadata={
        "verdicts": len(df), "judge_errors": len(errors),
        "judge_error_rate": float(len(errors) / len(df)) if len(df) else 0.0,
        "by_verdict": counts_md(df["verdict"], "verdict"),
        "by_mode": counts_md(df["judge_mode"], "judge_mode"),
        "zero_shot_fallback_tasks": len(fallback),
        "judge_model": models.judge,
        "judge_config": judge_config_hash(xpertbench),
        "judge_template_hash": judge_template_hash(cfg.template_version, cfg.mode)[:16],
        "model_reported": ", ".join(sorted(set(df["judge_model_reported"].dropna()))),
        "errors": md_table(errors[["task_id", "checkpoint_id", "error_reason"]], 20),
    })
    return dg.Output(df, data_version=out.data_version, metadata=out.metadata)
