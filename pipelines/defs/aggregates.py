"""Aggregate tables over Gold (leaderboard, Table-3 style domain scores, breakdowns, pairs, items, cost)."""

import dagster as dg
import pandas as pd

from pipelines.core import aggregates as agg
from pipelines.core.columns import with_ci
from pipelines.defs.common import AUTO, Build, concat_partitions, hashed_output
from pipelines.defs.columns import ui_table
from pipelines.defs.resources import LLMResource, XpertBenchResource

GROUP = "reporting"


def judge_usage(judge_rows: pd.DataFrame, llm: LLMResource) -> dict[str, dict]:
    """Usage of the judge calls behind these rows, read back from the call store."""
    keys = judge_rows["judge_call_key"].dropna().unique()
    if not len(keys):
        return {}
    store = llm.runner.store
    return {k: {**sc.response.get("usage", {}), "mode": sc.response.get("mode", "sync"),
                "batch_id": sc.response.get("batch_id")} for k, sc in store.get_many(keys).items()}


OUTS = {
    "leaderboard": "Per model: mean task score over Gold with a 95% bootstrap CI over tasks, rank, tasks complete, "
                   "judge error rate (a model above the limit is listed but not ranked).",
    "domain_scores": "Model x domain mean task score with bootstrap CIs, plus Overall (the paper's Table 3).",
    "category_scores": "Model x sub-category mean task score with bootstrap CIs.",
    "dimension_scores": "Model x rubric dimension (the paper's 16): checkpoints met and weighted met rate.",
    "importance_scores": "Model x importance level (Essential / Important / Optional): met rates.",
    "paired_comparisons": "Each pair of models: mean score difference on shared tasks with a paired bootstrap CI, "
                          "whether it excludes zero, and per-task wins.",
    "rubric_item_analytics": "Per checkpoint: how many models meet it; flags items no model meets or every model meets.",
    "cost_table": "Calls, tokens and cost per role (candidate, judge), model and candidate.",
}


def aggregate_tables(context: dg.AssetExecutionContext, xpertbench: XpertBenchResource, llm: LLMResource,
                     task_scores, judgements,  # {model: frame}, or one frame with a single candidate
                     generations, rubrics: pd.DataFrame, gold_tasks: pd.DataFrame,
                     anchor_judgements: pd.DataFrame):
    cfg, models = xpertbench.config(), xpertbench.models()
    scores = concat_partitions(task_scores).merge(gold_tasks[["task_id", "category"]], on="task_id", how="left")
    judged = concat_partitions(judgements)
    gens = concat_partitions(generations)
    judge_rows = pd.concat([judged, anchor_judgements.assign(model="anchor")], ignore_index=True)
    cp = agg.checkpoint_frame(judged, rubrics)
    board = agg.leaderboard(scores, judged, cfg.stats, cfg.checks.max_judge_error_rate)
    domains = agg.group_scores(scores, "domain", cfg.stats)
    tables = {
        "leaderboard": board,
        "domain_scores": domains,
        "category_scores": agg.group_scores(scores, "category", cfg.stats, overall=False),
        "dimension_scores": agg.met_rates(cp, "dimension"),
        "importance_scores": agg.met_rates(cp, "importance"),
        "paired_comparisons": agg.paired_comparisons(scores, cfg.stats),
        "rubric_item_analytics": agg.rubric_item_analytics(cp),
        "cost_table": agg.cost_table(agg.usage_rows(
            gens, judge_rows, models.judge, models.model(models.judge).cost_usd, judge_usage(judge_rows, llm))),
    }
    for name, df in tables.items():
        yield hashed_output(df, name, preview_metadata(name, df))


# The n behind each table's CIs: a CI from fewer than 2 tasks is labelled, not shown as real.
CI_N = {"leaderboard": "tasks_complete", "domain_scores": "n_tasks", "category_scores": "n_tasks",
        "paired_comparisons": "shared_tasks"}


def preview_metadata(name: str, df: pd.DataFrame) -> dict:
    """The table in the UI, percent with one decimal; domain scores also in the paper's Table-3 layout."""
    full = name in ("leaderboard", "domain_scores", "paired_comparisons")
    md = {"preview": ui_table(with_ci(df, CI_N.get(name)), name, max_rows=200 if full else 30)}
    if name == "domain_scores" and len(df):
        for bench, g in df.groupby("benchmark", sort=True):
            wide = agg.domain_table_wide(g, bench)  # already in percent
            md[f"table_3_{bench}"] = ui_table(wide.map(lambda v: f"{v:.1f}" if pd.notna(v) else "").reset_index())
    return md


def build(b: Build) -> list:
    """This stage's assets and checks, versioned and partitioned by the run's settings."""
    return [
        dg.multi_asset(
            outs={k: dg.AssetOut(group_name=GROUP, automation_condition=AUTO, code_version=b.versions["aggregates"], kinds={"pandas", "parquet"},
                                 description=v) for k, v in OUTS.items()},
            ins={"task_scores": dg.AssetIn(), "judgements": dg.AssetIn(), "generations": dg.AssetIn(),
                 "rubrics": dg.AssetIn(), "gold_tasks": dg.AssetIn(), "anchor_judgements": dg.AssetIn()},
        )(aggregate_tables),
    ]
