"""Gold subset: stratified sample of curated tasks whose rubrics have no blocking lint errors."""


import dagster as dg
import pandas as pd

from pipelines.core.gold import select_gold
from pipelines.defs.common import AUTO, Build, hashed_output
from pipelines.defs.columns import ui_table
from pipelines.defs.resources import XpertBenchResource

GROUP = "gold"
GOLD_COLUMNS = ["task_id", "domain", "category", "rank_in_domain", "sample_key", "quota",
                "eligible_in_domain", "has_anchor", "gold_config", "benchmark"]


def gold_tasks(context: dg.AssetExecutionContext, xpertbench: XpertBenchResource,
               tasks: pd.DataFrame, rubric_findings: pd.DataFrame) -> dg.Output:
    cfg = xpertbench.config().gold
    blocked = set(rubric_findings.loc[rubric_findings["severity"] == "error", "submission_id"])
    eligible = tasks[~tasks["task_id"].isin(blocked)]
    for tid in sorted(set(tasks["task_id"]) & blocked):
        context.log.info(f"{tid} not eligible for Gold: rubric lint error")
    # Stratified per benchmark source, so adding HealthBench tasks never changes the XpertBench Gold.
    picks = []
    for bench, g in eligible.groupby("benchmark", sort=True):
        chosen = select_gold(list(zip(g["task_id"], g["domain"])), cfg)
        if cfg.size is not None and len(chosen) != cfg.size:
            floor = cfg.min_per_domain * g["domain"].nunique()
            why = (f"gold.min_per_domain={cfg.min_per_domain} in each of {g['domain'].nunique()} domains needs "
                   f"{floor} (lower gold.min_per_domain)" if len(chosen) > cfg.size
                   else f"only {len(g)} tasks are eligible")
            context.log.warning(f"Gold of {bench} has {len(chosen)} tasks, not gold.size={cfg.size}: {why}")
        picks += chosen
    info = tasks.set_index("task_id")
    gold = pd.DataFrame(
        [{
            "task_id": p.task_id, "domain": p.domain, "category": info.at[p.task_id, "category"],
            "rank_in_domain": p.rank_in_domain, "sample_key": p.sample_key, "quota": p.quota,
            "eligible_in_domain": p.eligible_in_domain, "has_anchor": bool(info.at[p.task_id, "has_anchor"]),
            "gold_config": cfg.fingerprint(), "benchmark": info.at[p.task_id, "benchmark"],
        } for p in picks],
        columns=GOLD_COLUMNS,
    )
    keys = ["benchmark", "domain"]
    per_domain = (eligible.groupby(keys).size().rename("eligible").to_frame()
                  .join(gold.groupby(keys).size().rename("gold")).fillna(0).astype(int).reset_index())
    return hashed_output(gold, metadata={
        "gold_size": len(gold),
        "eligible": len(eligible),
        "per_domain": ui_table(per_domain),
        "gold_config": cfg.fingerprint(),
    })


def build(b: Build) -> list:
    """This stage's assets and checks, versioned and partitioned by the run's settings."""
    return [
        dg.asset(
            group_name=GROUP, automation_condition=AUTO, code_version=b.versions["gold"], kinds={"pandas", "parquet"},
            ins={"tasks": dg.AssetIn(), "rubric_findings": dg.AssetIn()},
            description="XpertBench-Gold: tasks sampled per benchmark source and domain in proportion to size with a "
            "per-domain floor, "
            "ranked within each domain by a keyed hash so that adding tasks does not reshuffle Gold. Tasks with "
            "rubric lint errors are not eligible.",
        )(gold_tasks),
    ]
