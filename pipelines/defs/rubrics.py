"""Rubrics: one row per checkpoint of every task, lint findings as a table, and GX checks."""


import dagster as dg
import pandas as pd

from pipelines.core.expectations import load_suite, run_suite
from pipelines.core.rubric_lint import lint_all
from pipelines.core.submission import Submission
from pipelines.defs.common import AUTO, Build, hashed_output
from pipelines.defs.columns import counts_table, ui_table
from pipelines.defs.resources import XpertBenchResource

GROUP = "rubrics"
RUBRIC_COLUMNS = ["task_id", "checkpoint_id", "position", "criterion", "weight", "importance", "dimension",
                  "tag", "polarity", "points", "rubric_hash", "source_sha256", "domain"]
FINDING_COLUMNS = ["submission_id", "checkpoint_id", "check", "severity", "message", "in_tasks", "source_path"]


def check_rubrics(context: dg.AssetExecutionContext, xpertbench: XpertBenchResource,
                  tasks: pd.DataFrame, submissions: pd.DataFrame):
    cfg = xpertbench.config().rubric
    all_subs = [Submission.model_validate_json(p) for p in submissions["payload_json"]]
    source_sha = dict(zip(tasks["task_id"], tasks["source_sha256"]))
    rows = []
    for s in all_subs:
        if s.submission_id not in source_sha:
            continue
        h, sha = s.rubric_hash(), source_sha[s.submission_id]
        for i, c in enumerate(s.rubric):
            rows.append({
                "task_id": s.submission_id, "checkpoint_id": c.id, "position": i, "criterion": c.criterion,
                "weight": None if c.weight is None else float(c.weight), "importance": c.importance,
                "dimension": c.dimension, "tag": c.tag, "polarity": c.polarity,
                "points": None if c.points is None else float(c.points), "rubric_hash": h, "source_sha256": sha,
                "domain": s.domain,
            })
    rubrics = pd.DataFrame(rows, columns=RUBRIC_COLUMNS)
    paths = dict(zip(submissions["submission_id"], submissions["source_path"]))
    findings = pd.DataFrame(
        [{**f.__dict__, "in_tasks": f.submission_id in source_sha, "source_path": paths[f.submission_id]}
         for f in lint_all(all_subs, cfg)],
        columns=FINDING_COLUMNS,
    )
    errors = findings[findings["severity"] == "error"]
    for _, f in errors.iterrows():
        context.log.warning(f"rubric error {f.submission_id}/{f.checkpoint_id or '-'}: {f.check}: {f.message}")
    yield hashed_output(rubrics, "rubrics", {
        "tasks": rubrics["task_id"].nunique(),
        "checkpoints": len(rubrics),
        "by_importance": counts_table(rubrics["importance"], "importance"),
        "by_dimension": counts_table(rubrics["dimension"], "dimension"),
    })
    yield hashed_output(findings, "rubric_findings", {
        "errors": len(errors),
        "warnings": int((findings["severity"] == "warning").sum()),
        "by_check": counts_table(findings["check"], "check"),
        "errors_detail": ui_table(errors[["submission_id", "check", "message"]]),
    })


def gx_result(suite_name: str, frame: pd.DataFrame) -> dg.AssetCheckResult:
    res = run_suite(frame, load_suite(suite_name))
    return dg.AssetCheckResult(
        passed=res.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"suite": f"validation/{suite_name}.suite.json", "evaluated": res.evaluated,
                  "failed": dg.MetadataValue.json(res.failed)},
    )


def rubrics_gx_suite(rubrics: pd.DataFrame) -> dg.AssetCheckResult:
    return gx_result("rubrics", rubrics)


def tasks_gx_suite(tasks: pd.DataFrame) -> dg.AssetCheckResult:
    return gx_result("tasks", tasks)


def build(b: Build) -> list:
    """This stage's assets and checks, versioned and partitioned by the run's settings."""
    return [
        dg.multi_asset(
            outs={
                "rubrics": dg.AssetOut(
                    group_name=GROUP, automation_condition=AUTO, code_version=b.versions["rubrics"], kinds={"pandas", "parquet"},
                    description="One row per checkpoint of every curated task (criterion, weight, importance, "
                    "dimension, polarity) with the rubric's content hash.",
                ),
                "rubric_findings": dg.AssetOut(
                    group_name=GROUP, automation_condition=AUTO, code_version=b.versions["rubrics"], kinds={"pandas", "parquet"},
                    description="Rubric lint for every valid submission: checkpoint count, weights vs importance, "
                    "atomicity, polarity, taxonomy, anchor coverage and task<->rubric consistency. Severity "
                    "'error' keeps a task out of Gold.",
                ),
            },
            ins={"tasks": dg.AssetIn(), "submissions": dg.AssetIn()},
        )(check_rubrics),
        dg.asset_check(asset="rubrics", blocking=True,
                        description="Great Expectations suite validation/rubrics.suite.json (ids unique per task, "
                        "weights 1-10, enums, hashes). Blocking: later stages never run on a table that fails it.")(rubrics_gx_suite),
        dg.asset_check(asset="tasks", blocking=True,
                        description="Great Expectations suite validation/tasks.suite.json (unique ids and prompt "
                        "hashes, known domains, source hashes). Blocking.")(tasks_gx_suite),
    ]
