"""Ingest: the raw submission folder, parsed submissions, and the quarantine of files that failed."""


import dagster as dg
import pandas as pd

from pipelines.core.intake import folder_fingerprint, parse_folder
from pipelines.defs.common import AUTO, Build, counts_md, hashed_output, md_table
from pipelines.defs.resources import XpertBenchResource
from pipelines.llm.store import model_fingerprint

GROUP = "ingest"


def raw_submissions(xpertbench: XpertBenchResource) -> dg.DataVersion:
    return dg.DataVersion(folder_fingerprint(xpertbench.raw_path))


def model_configs(xpertbench: XpertBenchResource) -> dg.DataVersionsByPartition:
    models = xpertbench.models()
    return dg.DataVersionsByPartition(
        {name: dg.DataVersion(model_fingerprint(models, name)) for name in models.candidates
})


SUBMISSION_COLUMNS = [
    "submission_id", "source_path", "source_sha256", "domain", "category", "language", "expert_id",
    "origin", "submitted_at", "n_checkpoints", "has_anchor", "payload_json",
]
QUARANTINE_COLUMNS = ["source_path", "source_sha256", "size_bytes", "reason", "message"]


def parse_submissions(context: dg.AssetExecutionContext, xpertbench: XpertBenchResource):
    cfg = xpertbench.config().intake
    results = parse_folder(xpertbench.raw_path, cfg.max_file_bytes)
    good = [
        {
            "submission_id": r.submission.submission_id,
            "source_path": r.path,
            "source_sha256": r.sha256,
            "domain": r.submission.domain,
            "category": r.submission.category,
            "language": r.submission.language,
            "expert_id": r.submission.expert_id,
            "origin": r.submission.source.origin,
            "submitted_at": r.submission.submitted_at.isoformat() if r.submission.submitted_at else None,
            "n_checkpoints": len(r.submission.rubric),
            "has_anchor": r.submission.anchor is not None,
            "payload_json": r.submission.model_dump_json(),
        }
        for r in results if r.submission is not None
    ]
    bad = [
        {"source_path": r.path, "source_sha256": r.sha256, "size_bytes": r.size_bytes,
         "reason": r.reason, "message": r.message}
        for r in results if r.submission is None
    ]
    subs = pd.DataFrame(good, columns=SUBMISSION_COLUMNS)
    quarantine = pd.DataFrame(bad, columns=QUARANTINE_COLUMNS)
    for row in bad:
        context.log.warning(f"quarantined {row['source_path']}: {row['reason']}: {row['message']}")
    context.log.info(f"read {len(results)} files: {len(subs)} valid, {len(quarantine)} quarantined")
    yield hashed_output(subs, "submissions", {
        "files_read": len(results),
        "by_domain": counts_md(subs["domain"], "domain"),
    })
    yield hashed_output(quarantine, "submission_quarantine", {
        "quarantined": len(quarantine),
        "by_reason": counts_md(quarantine["reason"], "reason"),
        "files": md_table(quarantine[["source_path", "reason", "message"]]),
    })


def build(b: Build) -> list:
    """This stage's assets and checks, versioned and partitioned by the run's settings."""
    return [
        dg.observable_source_asset(
            group_name=GROUP,
            # No automation condition: the xpertbench_observe sensor (defs/automation.py) hashes the folder and
            # records an observation only when it changed; `xpertbench run/refresh` observe it first.
            description="Expert submissions as files under raw_submissions/. Its data version is a content "
            "hash of every file in the folder, so editing one file marks downstream assets stale.",
        )(raw_submissions),
        dg.observable_source_asset(
            group_name=GROUP, partitions_def=b.partitions,
            description="Each candidate's entry in models.yaml, observed per partition: its data version is a hash "
            "of what can change the model's answers (provider, model id, sampling parameters; not prices or limits), "
            "so editing one model's settings makes only that model's generations stale.",
        )(model_configs),
        dg.multi_asset(
            outs={
                "submissions": dg.AssetOut(
                    group_name=GROUP, automation_condition=AUTO, code_version=b.versions["intake"], kinds={"pandas", "parquet"},
                    description="Every submission file that parsed and passed the schema (validation/"
                    "submission.schema.json), one row each, with its file path and sha256.",
                ),
                "submission_quarantine": dg.AssetOut(
                    group_name=GROUP, automation_condition=AUTO, code_version=b.versions["intake"], kinds={"pandas", "parquet"},
                    description="Entries that could not be accepted (bad bytes, names, links, file types, sizes, "
                    "schema, duplicate ids): path, sha256, size, reason code and message; the codes are listed in "
                    "raw_submissions/README.md. Nothing is dropped silently.",
                ),
            },
            deps=["raw_submissions"],
        )(parse_submissions),
    ]
