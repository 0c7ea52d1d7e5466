"""Aggregate tables over Gold (leaderboard, Table-3 style domain scores, breakdowns, pairs, items, cost)."""

import dagster as dg
import pandas as pd

from pipelines.core import aggregates as agg
from pipelines.defs import versions
from pipelines.defs.common import AUTO, hashed_output, md_table
from pipelines.defs.resources import XpertBenchResource
from pipelines.llm.store import CallStore

GROUP = "reporting"


def _concat(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    frames = [df for _, df in sorted(parts.items()) if len(df)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def usage_rows(generations: pd.DataFrame, judge_rows: pd.DataFrame, xpertbench: XpertBenchResource) -> pd.DataFrame:
    """Token and cost rows per call: candidates from generations, judge calls from the call store."""
    models = xpertbench.models()
    gen = generations.assign(role="candidate", for_candidate=generations["model"])[
        ["role", "model", "for_candidate", "call_key", "input_tokens", "output_tokens", "cached_tokens", "cost_usd"]]
    keys = judge_rows[["judge_call_key", "model"]].dropna().drop_duplicates()
    rows = []
    if len(keys):
        with CallStore(xpertbench.call_store_path) as store:
            stored = store.get_many(keys["judge_call_key"].unique())
        judge_cfg = models.model(models.judge)
        for key, cand in keys.itertuples(index=False):
            sc = stored.get(key)
            if sc is None:
                continue
            u = sc.response.get("usage", {})
            tin, tout, tc = (int(u.get(k, 0)) for k in ("input_tokens", "output_tokens", "cached_tokens"))
            rows.append({"role": "judge", "model": models.judge, "for_candidate": cand, "call_key": key,
                         "input_tokens": tin, "output_tokens": tout, "cached_tokens": tc,
                         "cost_usd": judge_cfg.cost_usd(tin, tout, tc)})
    return pd.concat([gen, pd.DataFrame(rows, columns=gen.columns)], ignore_index=True)


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


@dg.multi_asset(
    outs={k: dg.AssetOut(group_name=GROUP, automation_condition=AUTO, code_version=versions.AGGREGATES, kinds={"pandas", "parquet"},
                         description=v) for k, v in OUTS.items()},
    ins={"task_scores": dg.AssetIn(), "judgements": dg.AssetIn(), "generations": dg.AssetIn(),
         "rubrics": dg.AssetIn(), "gold_tasks": dg.AssetIn(), "anchor_judgements": dg.AssetIn()},
)
def aggregate_tables(context: dg.AssetExecutionContext, xpertbench: XpertBenchResource,
                     task_scores: dict[str, pd.DataFrame], judgements: dict[str, pd.DataFrame],
                     generations: dict[str, pd.DataFrame], rubrics: pd.DataFrame, gold_tasks: pd.DataFrame,
                     anchor_judgements: pd.DataFrame):
    cfg = xpertbench.config()
    scores = _concat(task_scores).merge(gold_tasks[["task_id", "category"]], on="task_id", how="left")
    judged = _concat(judgements)
    gens = _concat(generations)
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
        "cost_table": agg.cost_table(usage_rows(gens, pd.concat([judged, anchor_judgements.assign(
            model="anchor")], ignore_index=True), xpertbench)),
    }
    previews = {"leaderboard": md_table(board), "domain_scores": dg.MetadataValue.md(
        agg.domain_table_wide(domains).to_markdown()) if len(domains) else md_table(domains)}
    for name, df in tables.items():
        yield hashed_output(df, name, {"preview": previews.get(name, md_table(df, 20))})
