"""Task scores per model, and the checks that gate the aggregate stage."""

import dagster as dg
import pandas as pd

from pipelines.core.check_advice import gold_coverage_explanation, judge_error_explanation, judge_error_kinds
from pipelines.core.columns import fmt
from pipelines.core.provenance import provenance_rows
from pipelines.core.task_scoring import score_tasks
from pipelines.defs.common import AUTO, Build, hashed_output
from pipelines.defs.columns import counts_table, ui_table
from pipelines.defs.resources import XpertBenchResource

GROUP = "scoring"
UI_ROWS = 1000  # keeps one materialisation event small enough for the UI


def task_scores(context: dg.AssetExecutionContext, xpertbench: XpertBenchResource, judgements: pd.DataFrame,
                rubrics: pd.DataFrame, generations: pd.DataFrame, gold_tasks: pd.DataFrame) -> dg.Output:
    cfg = xpertbench.config().judge
    df = score_tasks(judgements, rubrics, generations, gold_tasks, context.partition_key, cfg.max_error_share)
    scored = df[df["complete"]]
    return hashed_output(df, metadata={
        "tasks": len(df), "complete": len(scored),
        "mean_score": f"{fmt(scored['score'].mean(), 'percent')}%" if len(scored) else "n/a",
        "by_status": counts_table(df["status"], "status"),
        "scores": ui_table(df[["task_id", "domain", "status", "score", "n_met", "n_judge_errors"]], "task_scores", 200),
    })


def provenance(context: dg.AssetExecutionContext, task_scores: pd.DataFrame, generations: pd.DataFrame,
               judgements: pd.DataFrame, tasks: pd.DataFrame, rubrics: pd.DataFrame) -> dg.Output:
    model = context.partition_key
    df = provenance_rows(task_scores, generations, judgements, tasks, rubrics, model)
    return hashed_output(df, metadata={
        "model": model, "tasks": len(df), "rows_shown": min(len(df), UI_ROWS),
        # The table in the UI (full hashes, to search for), whole up to UI_ROWS Gold tasks; always whole in parquet.
        "provenance": ui_table(df, "provenance", max_rows=UI_ROWS),
    })


def judge_error_rate(context: dg.AssetCheckExecutionContext, xpertbench: XpertBenchResource,
                     judgements: pd.DataFrame) -> dg.AssetCheckResult:
    limit = xpertbench.config().checks.max_judge_error_rate
    rate = float((judgements["verdict"] == "judge_error").mean()) if len(judgements) else 0.0
    judge, model = xpertbench.models().judge, context.partition_key if context.has_partition_key else "-"
    explanation = judge_error_explanation(judgements, limit, judge, model)
    # The check's result names its model: the UI lists one result per partition.
    return dg.AssetCheckResult(passed=rate <= limit, description=f"{model}: {explanation}", metadata={
        "model": model, "judge_error_rate": f"{fmt(rate, 'percent')}%", "limit": f"{fmt(limit, 'percent')}%",
        "judge_model": judge,
        "by_error_kind": dg.MetadataValue.json({str(k): int(v) for k, v in judge_error_kinds(judgements).items()}),
        "explanation": dg.MetadataValue.text(explanation),
    })


def all_gold_tasks_scored(context: dg.AssetCheckExecutionContext, xpertbench: XpertBenchResource,
                          task_scores: pd.DataFrame, gold_tasks: pd.DataFrame) -> dg.AssetCheckResult:
    missing = sorted(set(gold_tasks["task_id"]) - set(task_scores["task_id"]))
    incomplete = sorted(task_scores.loc[~task_scores["complete"].astype(bool), "task_id"])
    model = context.partition_key if context.has_partition_key else "-"
    explanation = gold_coverage_explanation(task_scores, list(gold_tasks["task_id"]), model,
                                            xpertbench.config().judge.max_error_share)
    return dg.AssetCheckResult(
        passed=not missing and not incomplete, description=f"{model}: {explanation}",
        metadata={"model": model, "gold_tasks": len(gold_tasks), "missing": dg.MetadataValue.json(missing),
                  "incomplete": dg.MetadataValue.json(incomplete),
                  "explanation": dg.MetadataValue.text(explanation)},
    )


def build(b: Build) -> list:
    """This stage's assets and checks, versioned and partitioned by the run's settings."""
    return [
        dg.asset(
            group_name=GROUP, automation_condition=AUTO, code_version=b.versions["task_scores"], kinds={"pandas", "parquet"},
            partitions_def=b.partitions,
            ins={"judgements": dg.AssetIn(), "rubrics": dg.AssetIn(), "generations": dg.AssetIn(),
                 "gold_tasks": dg.AssetIn()},
            description="Per (Gold task, model): S = sum(w x) / sum(w) over judged checkpoints, checkpoints met, "
            "judge errors (excluded and counted; above the configured share the task is incomplete), and "
            "sub-scores per importance level and dimension.",
        )(task_scores),
        dg.asset(
            group_name=GROUP, automation_condition=AUTO, code_version=b.versions["task_scores"], kinds={"pandas", "parquet"},
            partitions_def=b.partitions,
            ins={"task_scores": dg.AssetIn(), "generations": dg.AssetIn(), "judgements": dg.AssetIn(),
                 "tasks": dg.AssetIn(), "rubrics": dg.AssetIn()},
            description="Per model, one row per Gold task: raw file and its sha256, rubric hash, prompt and judge "
            "template hashes, generation and judge call keys, the model ids the APIs reported (candidate and "
            "judge), judge config hash, status and score. The whole table is shown in the UI; "
            "`xpertbench trace TASK --model M` prints the same chain for one task.",
        )(provenance),
        dg.asset_check(asset="judgements", blocking=True, partitions_def=b.partitions,
                        description="Share of checkpoint verdicts that are judge errors stays under "
                        "checks.max_judge_error_rate. Blocking: aggregates never use a partition that fails it.")(judge_error_rate),
        dg.asset_check(asset="task_scores", blocking=True, additional_ins={"gold_tasks": dg.AssetIn()},
                        partitions_def=b.partitions,
                        description="Every Gold task has a complete score for this model (no missing task, no "
                        "failed generation, no task over the judge-error limit).")(all_gold_tasks_scored),
    ]
