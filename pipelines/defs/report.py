"""The report: one self-contained HTML page and a Markdown version, from the aggregate tables."""

from pathlib import Path

import dagster as dg
import pandas as pd

from pipelines.core.columns import with_ci
from pipelines.core.frames import sha256_text
from pipelines.defs.columns import ui_table
from pipelines.defs.common import AUTO, Build, concat_partitions, hashed_output
from pipelines.defs.resources import XpertBenchResource

GROUP = "reporting"
TABLES = ["leaderboard", "domain_scores", "category_scores", "dimension_scores", "importance_scores",
          "paired_comparisons", "rubric_item_analytics", "cost_table"]
LINEAGE = ["submissions", "submission_quarantine", "tasks", "curation_log", "rubrics", "rubric_findings",
           "gold_tasks"]


def report(context: dg.AssetExecutionContext, xpertbench: XpertBenchResource, **tables) -> dg.Output:
    # Imported here: matplotlib costs about a second, and loading the definitions should not pay it.
    from pipelines.core.report import ReportInputs, render

    per_model = {k: concat_partitions(tables[k]) for k in ("task_scores", "generations", "judgements")}
    lineage = pd.DataFrame(
        [{"stage": "raw submission files", "rows": len(tables["submissions"]) + len(tables["submission_quarantine"])}]
        + [{"stage": k, "rows": len(tables[k])} for k in LINEAGE]
        + [{"stage": k, "rows": len(v)} for k, v in per_model.items()]
        + [{"stage": t, "rows": len(tables[t])} for t in TABLES]
    )
    models = xpertbench.models()
    cfg_files = {Path(xpertbench.config_path).name: Path(xpertbench.config_path),
                 Path(xpertbench.models_path).name: Path(xpertbench.models_path)}
    inputs = ReportInputs(
        **{t: tables[t] for t in TABLES}, judge_agreement=tables["judge_agreement"],
        task_scores=per_model["task_scores"], lineage=lineage, quarantine=tables["submission_quarantine"],
        curation_log=tables["curation_log"],
        config_text={n: (p.read_text(encoding="utf-8") if p.exists() else "(defaults)") for n, p in cfg_files.items()},
        standin_run=models.uses_standin(),
    )
    html_path, md_path = render(inputs, xpertbench.assets_path / "report")
    context.log.info(f"report written to {html_path}")
    df = pd.DataFrame([{"file": str(p), "sha256": sha256_text(p.read_text(encoding="utf-8"))}
                       for p in (html_path, md_path)])
    # Dagster has no image metadata: each chart is a path (its numbers are the tables shown on
    # leaderboard and domain_scores), and the leaderboard is a table here too.
    charts = {f"chart_{p.stem}": dg.MetadataValue.path(str(p)) for p in sorted((html_path.parent / "images").glob("*.png"))}
    if xpertbench.assets_url:  # a team's assets live in a shared store: the report goes there too
        from pipelines.defs.io import publish_folder

        url = publish_folder(html_path.parent, xpertbench.assets_url, "report")
        charts["report_url"] = dg.MetadataValue.url(f"{url}/report.html")
    # The data version is the files' content hash (not their paths): the same inputs give the same
    # report hash whenever and wherever it is built.
    out = hashed_output(df[["sha256"]], metadata={
        **charts, "report_html": dg.MetadataValue.path(str(html_path)), "report_md": dg.MetadataValue.path(str(md_path)),
        "leaderboard": ui_table(with_ci(tables["leaderboard"], "tasks_complete"), "leaderboard")})
    return dg.Output(df, data_version=out.data_version, metadata=out.metadata)


def build(b: Build) -> list:
    """This stage's assets and checks, versioned and partitioned by the run's settings."""
    return [
        dg.asset(
            group_name=GROUP, automation_condition=AUTO, code_version=b.versions["report"], kinds={"html", "markdown"},
            ins={**{t: dg.AssetIn() for t in TABLES + LINEAGE}, "judge_agreement": dg.AssetIn(),
                 "task_scores": dg.AssetIn(), "generations": dg.AssetIn(), "judgements": dg.AssetIn()},
            description="assets/report/report.html (self-contained, images inline, viewable offline) and report.md: "
            "leaderboard, Table-3 style domain scores, charts, paired comparisons, judge agreement, breakdowns, "
            "cost, lineage counts, quarantine and curation summaries, and the configuration used.",
        )(report),
    ]
