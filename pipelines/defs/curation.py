"""Curation: valid submissions become tasks; every keep/drop decision is logged with its rule."""


import dagster as dg
import pandas as pd

from pipelines.core.curation import curate, load_screening_scores, prompt_hash
from pipelines.core.submission import Submission
from pipelines.defs.common import AUTO, Build, hashed_output
from pipelines.defs.columns import counts_table, ui_table
from pipelines.defs.resources import XpertBenchResource

GROUP = "curation"
TASK_COLUMNS = [
    "task_id", "domain", "category", "language", "expert_id", "benchmark", "source_path", "source_sha256",
    "prompt_text", "prompt_hash", "has_anchor", "payload_json", "curation_config",
]
LOG_COLUMNS = ["submission_id", "source_path", "source_sha256", "decision", "rule", "detail",
               "related_id", "curation_config"]


def curate_tasks(context: dg.AssetExecutionContext, xpertbench: XpertBenchResource, submissions: pd.DataFrame):
    cfg = xpertbench.config().curation
    subs = [Submission.model_validate_json(p) for p in submissions["payload_json"]]
    screening = load_screening_scores(xpertbench.raw_path / cfg.screening_scores_file)
    if not screening:
        context.log.info("difficulty screen inactive: no screening scores file")
    decisions = curate(subs, cfg, screening)
    meta = submissions.set_index("submission_id")
    by_id = {s.submission_id: s for s in subs}
    fp = cfg.fingerprint()
    log = pd.DataFrame(
        [
            {
                "submission_id": d.submission_id,
                "source_path": meta.at[d.submission_id, "source_path"],
                "source_sha256": meta.at[d.submission_id, "source_sha256"],
                "decision": "kept" if d.kept else ("meta_eval" if d.rule == "meta_eval_set" else "dropped"),
                "rule": d.rule,
                "detail": d.detail,
                "related_id": d.related_id,
                "curation_config": fp,
            }
            for d in decisions
        ],
        columns=LOG_COLUMNS,
    )
    tasks = pd.DataFrame(
        [
            {
                "task_id": s.submission_id,
                "domain": s.domain,
                "category": s.category,
                "language": s.language,
                "expert_id": s.expert_id,
                "benchmark": s.benchmark,
                "source_path": meta.at[s.submission_id, "source_path"],
                "source_sha256": meta.at[s.submission_id, "source_sha256"],
                "prompt_text": s.prompt_text(),
                "prompt_hash": prompt_hash(s),
                "has_anchor": s.anchor is not None,
                "payload_json": meta.at[s.submission_id, "payload_json"],
                "curation_config": fp,
            }
            for s in (by_id[d.submission_id] for d in decisions if d.kept)
        ],
        columns=TASK_COLUMNS,
    )
    dropped = log[log["decision"] == "dropped"]
    yield hashed_output(tasks, "tasks", {
        "kept": len(tasks),
        "by_domain": counts_table(tasks["domain"], "domain"),
        "curation_config": fp,
    })
    yield hashed_output(log, "curation_log", {
        "kept": int((log["decision"] == "kept").sum()),
        "meta_eval_sets": int((log["decision"] == "meta_eval").sum()),
        "dropped": len(dropped),
        "dropped_by_rule": counts_table(dropped["rule"], "rule"),
        # The drop list, whole, as a table in the UI.
        "dropped_detail": ui_table(dropped[["submission_id", "rule", "detail", "related_id", "source_path"]],
                                   "curation_log", max_rows=500),
        "difficulty_screen_active": bool(screening),
    })


def build(b: Build) -> list:
    """This stage's assets and checks, versioned and partitioned by the run's settings."""
    return [
        dg.multi_asset(
            outs={
                "tasks": dg.AssetOut(
                    group_name=GROUP, automation_condition=AUTO, code_version=b.versions["curation"], kinds={"pandas", "parquet"},
                    description="Submissions kept by curation: one row per task with its prompt and source.",
                ),
                "curation_log": dg.AssetOut(
                    group_name=GROUP, automation_condition=AUTO, code_version=b.versions["curation"], kinds={"pandas", "parquet"},
                    description="One decision per valid submission: kept, or dropped with the rule and detail "
                    "(expert cap, required fields per source, missing component, prompt length, reference answer, "
                    "language, exact/near duplicate, difficulty screen); meta-evaluation sets are logged as "
                    "'meta_eval' (they feed judge_agreement). A task's property drops that task, never the run.",
                ),
            },
            ins={"submissions": dg.AssetIn()},
            deps=["raw_submissions"],
        )(curate_tasks),
    ]
