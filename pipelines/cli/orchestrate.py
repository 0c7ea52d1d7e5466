"""Run the whole pipeline in stage order against a Dagster instance (what `xpertbench run` does).

Three kinds of run, as Dagster requires: unpartitioned curation assets, one run per candidate
model partition, then the unpartitioned judge meta-evaluation and aggregates. Each run is a normal
Dagster run recorded in the instance, so the UI shows it and staleness is tracked.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import dagster as dg
import pandas as pd

from pipelines.cli.recovery import process_tags
from pipelines.llm import cancel

from pipelines.cli.check_lines import failed_check_lines


CURATION = ["submissions", "submission_quarantine", "tasks", "curation_log", "rubrics", "rubric_findings",
            "gold_tasks"]
PER_MODEL = ["generations", "judgements", "task_scores", "provenance"]

log = logging.getLogger("xpertbench")


def final_stage(defs: dg.Definitions) -> list[str]:
    """Unpartitioned assets downstream of the model partitions (agreement, aggregates, report)."""
    done = set(CURATION) | set(PER_MODEL) | {"raw_submissions", "model_configs"}
    keys = []
    for a in defs.assets:
        for k in getattr(a, "keys", []):
            name = k.to_user_string()
            if name not in done:
                keys.append(name)
    return keys


def materialize(defs: dg.Definitions, instance: dg.DagsterInstance, selection: Sequence[str], *,
                partition_key: str | None = None, tags: dict | None = None) -> dg.ExecuteInProcessResult:
    """One in-process Dagster run. After Ctrl-C/SIGTERM (pipelines.cli.interrupts) no run starts,
    and a run that was canceled raises KeyboardInterrupt here, so no caller goes on to the next."""
    if cancel.stopping():
        raise KeyboardInterrupt
    # Console shows warnings and errors only (progress bars say the rest); every event, DEBUG
    # included, is still stored in the instance and visible in the UI.
    level = os.environ.get("XPERTBENCH_LOG_LEVEL", "WARNING").upper()
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks], selection=list(selection), partition_key=partition_key,
        instance=instance, resources=defs.resources, raise_on_error=False,
        # The process that runs it, so that the next start can tell a dead run (recovery.py).
        tags={**process_tags(), **(tags or {})},
        run_config={"loggers": {"console": {"config": {"log_level": level}}}},
    )
    if cancel.stopping():
        raise KeyboardInterrupt
    return result


def candidates(defs: dg.Definitions) -> list[str]:
    return list(defs.resources["xpertbench"].models().candidates)


def run_all(instance: dg.DagsterInstance, defs: dg.Definitions, models: Sequence[str] | None = None,
            echo: Callable[[str], None] = print) -> bool:
    partitions = candidates(defs)
    unknown = set(models or []) - set(partitions)
    if unknown:
        raise SystemExit(f"unknown candidate model(s) {sorted(unknown)}; models.yaml has {partitions}")
    steps: list[tuple[str, list[str], str | None]] = [
        ("observe raw submissions", ["raw_submissions"], None),
        ("observe model configs", ["model_configs"], None),  # one data version per candidate
        ("curation", CURATION, None),
    ]
    steps += [(f"model {m}", PER_MODEL, m) for m in (models or partitions)]
    failed_models = []
    for label, selection, pk in steps:
        echo(f"[xpertbench] {label}: {', '.join(selection)}" + (f" [{pk}]" if pk else ""))
        result = materialize(defs, instance, selection, partition_key=pk)
        if not result.success:
            steps_failed = [e.step_key for e in result.all_events if e.is_step_failure]
            checks = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
            echo(f"[xpertbench] {label} FAILED (steps: {', '.join(steps_failed) or '-'}; failed checks: "
                 f"{', '.join(checks) or '-'}); see run {result.run_id} in the UI")
            for line in failed_check_lines(result):  # figure, limit and next step of each failed check
                echo(f"[xpertbench]   {line}")
            if pk is None:
                return False  # later stages need this one
            why = partition_problem(defs.resources["xpertbench"].assets_path, pk)
            if why:
                echo(f"[xpertbench] model {pk}: {why}")
            failed_models.append(pk)
    if failed_models:
        # Blocking checks gate the aggregate stage: no leaderboard from partial or failing partitions.
        echo(f"[xpertbench] aggregates not updated: {', '.join(failed_models)} failed (fix, then "
             "`xpertbench run --model NAME` or `xpertbench refresh`)")
        return False
    # Aggregates read every candidate's scores: run them only once all partitions exist.
    missing = set(partitions) - set(instance.get_materialized_partitions(dg.AssetKey("task_scores")))
    if missing:
        echo(f"[xpertbench] aggregates skipped: no scores yet for {', '.join(sorted(missing))} "
             "(run without --model, or `xpertbench refresh`)")
        return True
    final = final_stage(defs)
    echo(f"[xpertbench] meta-evaluation and aggregates: {', '.join(final)}")
    result = materialize(defs, instance, final)
    if not result.success:
        echo(f"[xpertbench] meta-evaluation and aggregates FAILED; see run {result.run_id} in the UI")
    return result.success


def partition_problem(assets_dir: Path, model: str) -> str | None:
    """One line saying why a model's partition cannot be ranked, from its generations and scores."""
    gen_path = assets_dir / "generations" / f"{model}.parquet"
    score_path = assets_dir / "task_scores" / f"{model}.parquet"
    if not gen_path.exists():
        return None
    gen = pd.read_parquet(gen_path, columns=["ok", "error_type", "error_message"])
    failed = gen[~gen["ok"].astype(bool)]
    if len(failed):
        top = (failed["error_type"].fillna("error") + ": " + failed["error_message"].fillna("")).value_counts()
        every = "every generation failed" if len(failed) == len(gen) else "generations failed"
        return (f"{every} ({len(failed)} of {len(gen)}), e.g. {top.index[0][:300]}; fix its entry in the models "
                f"config (model_id, provider, key), then `xpertbench run --model {model}`")
    if score_path.exists():
        scores = pd.read_parquet(score_path, columns=["status", "complete"])
        bad = scores.loc[~scores["complete"].astype(bool), "status"].value_counts()
        if len(bad):
            return (f"{int(bad.sum())} of {len(scores)} Gold tasks have no complete score ("
                    + ", ".join(f"{k}: {v}" for k, v in bad.items()) + "); see `xpertbench trace TASK --model "
                    f"{model}`")
    return None
