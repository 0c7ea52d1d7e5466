"""Every table column's description and unit, in one place, and how each unit is shown.

The UI (dagster/column_schema and table metadata), the terminal summary and the report all format
values through `fmt` with these units, so a score reads the same everywhere: percent with one
decimal (as the paper reports), counts as integers, text as written.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import pandas as pd

# percent: a fraction in [0, 1] (or a difference of fractions) shown as percent, one decimal.
# count: an integer (sums of booleans may be stored as floats; they are still counts).
NUMERIC_UNITS = {"percent", "count", "number", "coefficient", "usd", "seconds"}


class Column(NamedTuple):
    description: str
    unit: str = "text"  # text, id, hash, bool, json, percent, count, number, coefficient, usd, seconds


def _c(description: str, unit: str = "text") -> Column:
    return Column(description, unit)


COLUMNS: dict[str, Column] = {
    # identity and provenance
    "task_id": _c("Task id (the submission id of a kept task).", "id"),
    "submission_id": _c("Submission id from the raw file.", "id"),
    "checkpoint_id": _c("Rubric checkpoint id, unique within its task.", "id"),
    "model": _c("Candidate model name (models.yaml; the Dagster partition).", "id"),
    "model_a": _c("First model of the pair.", "id"),
    "model_b": _c("Second model of the pair.", "id"),
    "benchmark": _c("Benchmark source (xpertbench, or an imported source such as healthbench); never pooled.", "id"),
    "domain": _c("Professional domain (one of the paper's 7, or the imported source's).", "text"),
    "category": _c("Sub-category within the domain.", "text"),
    "source_path": _c("Raw submission file, relative to the raw folder.", "text"),
    "source_sha256": _c("sha256 of the raw file's bytes as read.", "hash"),
    "rubric_hash": _c("Hash of the task's rubric (criteria, weights, polarity); changes when the rubric does.", "hash"),
    "prompt_hash": _c("Hash of the candidate prompt text.", "hash"),
    "prompt_template_hash": _c("Hash of the generation prompt template used.", "hash"),
    "judge_template_hash": _c("Hash of the judge prompt template used.", "hash"),
    "template_version": _c("Generation prompt template version.", "id"),
    "call_key": _c("Generation call key: hash of everything that determines the answer (store key).", "hash"),
    "generation_call_key": _c("Call key of the candidate answer that was judged (one per replicate, space-separated).", "hash"),
    "judge_call_key": _c("Call key of the judge call that gave this verdict.", "hash"),
    "judge_call_keys": _c("Call keys of every judge call behind this task's verdicts, space-separated.", "hash"),
    "model_reported": _c("Model id the candidate's API reported in its reply.", "id"),
    "judge_model": _c("Judge model name (models.yaml).", "id"),
    "judge_model_reported": _c("Model id the judge's API reported in its reply.", "id"),
    "judge_config": _c("Hash of the judge configuration (model, template, mode, granularity).", "hash"),
    "judge_mode": _c("shotjudge (with a worked example), zeroshot, or graders_vs_graders (human baseline).", "id"),
    "models_config": _c("Hash of the candidate's settings in models.yaml.", "hash"),
    "curation_config": _c("Hash of the curation settings that made this decision.", "hash"),
    "gold_config": _c("Hash of the Gold sampling settings.", "hash"),
    "sample_key": _c("Keyed hash that ranks tasks for Gold sampling.", "hash"),
    "payload_json": _c("The validated submission as JSON (what later stages read).", "json"),
    "file": _c("Path of a report file.", "text"),
    "sha256": _c("sha256 of the report file's text.", "hash"),
    # submissions and curation
    "language": _c("Declared language of the task.", "id"),
    "expert_id": _c("Author (expert) id.", "id"),
    "origin": _c("Where the task came from (expert, paper appendix, importer).", "id"),
    "submitted_at": _c("Submission timestamp from the file (ISO 8601).", "text"),
    "has_anchor": _c("Whether the task has an expert-graded anchor answer.", "bool"),
    "size_bytes": _c("File size in bytes.", "count"),
    "reason": _c("Quarantine reason code.", "id"),
    "message": _c("What is wrong, in words.", "text"),
    "decision": _c("Curation decision: kept or dropped.", "id"),
    "rule": _c("Curation rule that dropped the task (empty when kept).", "id"),
    "detail": _c("Why the rule applied (figures and thresholds).", "text"),
    "related_id": _c("The other submission involved (duplicate of, same expert as).", "id"),
    "prompt_text": _c("The candidate prompt as sent.", "text"),
    # rubrics
    "position": _c("Checkpoint order within the rubric.", "count"),
    "criterion": _c("Checkpoint text the judge grades.", "text"),
    "weight": _c("Checkpoint weight (weighted rubrics).", "number"),
    "points": _c("Signed points (points rubrics; negative = penalty).", "number"),
    "importance": _c("Essential, Important or Optional.", "id"),
    "dimension": _c("Rubric dimension (the paper's 16).", "text"),
    "tag": _c("Free tag from the rubric author.", "text"),
    "polarity": _c("must (met when present) or must_not (met when the error is avoided).", "id"),
    "check": _c("Lint check that fired.", "id"),
    "severity": _c("error (blocks the task) or warning.", "id"),
    "in_tasks": _c("Whether the task survived curation.", "bool"),
    # gold
    "rank_in_domain": _c("Rank of the task in its domain by sample key (1 = first sampled).", "count"),
    "quota": _c("Gold tasks drawn from this domain.", "count"),
    "eligible_in_domain": _c("Kept tasks in the domain eligible for Gold.", "count"),
    # generations
    "replicate": _c("Replicate number of the answer (0 = first).", "count"),
    "ok": _c("Whether the call returned an answer.", "bool"),
    "answer": _c("The candidate's answer text.", "text"),
    "finish_reason": _c("Why the model stopped (stop, length, ...).", "id"),
    "truncated": _c("The answer stopped at max_tokens.", "bool"),
    "max_tokens": _c("Output token limit of the call.", "count"),
    "regenerated": _c("Asked again with a larger limit after a cut-off answer.", "bool"),
    "input_tokens": _c("Prompt tokens the API reported.", "count"),
    "output_tokens": _c("Completion tokens the API reported.", "count"),
    "cached_tokens": _c("Prompt tokens read from the provider's prompt cache (priced at input_cached_per_mtok).", "count"),
    "cache_write_tokens": _c("Prompt tokens written to the provider's prompt cache (Anthropic; priced at "
                             "cache_write_per_mtok).", "count"),
    "uncached_input_tokens": _c("Prompt tokens neither read from nor written to the cache (full input price).", "count"),
    "mode": _c("How the call was sent: sync (one request) or batch (the provider's batch API, at batch_discount).", "id"),
    "batch_id": _c("The provider's batch that answered the call (empty in sync mode).", "id"),
    "latency_s": _c("Seconds from request to reply (0 when read from the call store).", "seconds"),
    "cost_usd": _c("Cost in US dollars at the prices in models.yaml (cache and batch rates applied).", "usd"),
    "from_store": _c("Answer read from the call store (no call sent).", "bool"),
    "error_type": _c("Exception type of a failed call.", "id"),
    "error_message": _c("Error message of a failed call.", "text"),
    # judgements
    "verdict": _c("met, not_met or judge_error (a judge failure is never a score).", "id"),
    "met": _c("Verdict as a boolean (empty for a judge error).", "bool"),
    "rationale": _c("The judge's reason for the verdict.", "text"),
    "error_reason": _c("Why no usable verdict came back.", "text"),
    "error_kind": _c("Judge error class (cut_off, invalid_json, missing_id, ...).", "id"),
    "raw_reply": _c("The judge's raw reply when it could not be used.", "text"),
    "judge_attempt": _c("Attempt number of the judge call that gave the verdict.", "count"),
    "example_task_id": _c("Task whose anchor served as the worked example (ShotJudge).", "id"),
    "completion_id": _c("Which graded completion (anchor, or a meta-evaluation completion).", "id"),
    "grader_id": _c("Expert or physician whose label this row compares with.", "id"),
    "expert_met": _c("The expert's verdict (met).", "bool"),
    # task scores
    "status": _c("scored, incomplete (too many judge errors) or generation_error.", "id"),
    "score": _c("Mean task score (percent; weighted: S = sum w x / sum w; points: clipped mean).", "percent"),
    "complete": _c("The task counts towards the model's score.", "bool"),
    "n_checkpoints": _c("Checkpoints in the rubric.", "count"),
    "n_met": _c("Checkpoints met.", "count"),
    "n_judge_errors": _c("Checkpoints the judge left without a usable verdict.", "count"),
    "weight_met": _c("Sum of weights (or points) of met checkpoints.", "number"),
    "weight_judged": _c("Sum of weights (or positive points) of judged checkpoints.", "number"),
    "weight_total": _c("Sum of weights (or positive points) of the rubric.", "number"),
    "by_importance": _c("Weighted met rate per importance level (JSON).", "json"),
    "by_dimension": _c("Weighted met rate per dimension (JSON).", "json"),
    "rubric_kind": _c("weighted (XpertBench) or points (HealthBench).", "id"),
    "answer_truncated": _c("The answer stopped at max_tokens and was judged as it was.", "bool"),
    # aggregates
    "rank": _c("Rank on the leaderboard of its benchmark source (0 = not ranked, see excluded).", "count"),
    "ci_lo": _c("Lower bound of the 95% percentile bootstrap CI over tasks (percent).", "percent"),
    "ci_hi": _c("Upper bound of the 95% percentile bootstrap CI over tasks (percent).", "percent"),
    "ci": _c("95% bootstrap CI (percent); 'n/a' when the sample is too small or degenerate.", "text"),
    "tasks_complete": _c("Gold tasks with a complete score.", "count"),
    "tasks_gold": _c("Gold tasks of the benchmark.", "count"),
    "truncated_answers": _c("Gold answers that stopped at max_tokens.", "count"),
    "judge_error_rate": _c("Share of the model's verdicts that are judge errors (percent).", "percent"),
    "excluded": _c("Not ranked: judge error rate above the limit.", "bool"),
    "note": _c("Why the model is not ranked, if it is not.", "text"),
    "n_tasks": _c("Tasks behind the figure.", "count"),
    "checkpoints": _c("Checkpoints judged.", "count"),
    "met_rate": _c("Share of checkpoints met (percent).", "percent"),
    "weighted_met_rate": _c("Weight of met checkpoints over weight judged (percent).", "percent"),
    "judge_errors": _c("Judge errors among them.", "count"),
    "shared_tasks": _c("Tasks both models completed.", "count"),
    "mean_diff": _c("Mean score difference a - b on shared tasks (percentage points).", "percent"),
    "excludes_zero": _c("The paired CI excludes zero (a real difference at 95%).", "bool"),
    "a_wins": _c("Tasks where model a scored higher.", "count"),
    "b_wins": _c("Tasks where model b scored higher.", "count"),
    "ties": _c("Tasks with equal scores.", "count"),
    "models_judged": _c("Models judged on this checkpoint.", "count"),
    "models_met": _c("Models that met it.", "count"),
    "met_share": _c("Share of models that met it (percent).", "percent"),
    "flag": _c("none_met or all_met, else empty.", "id"),
    "role": _c("candidate or judge.", "id"),
    "for_candidate": _c("Candidate whose answers the judge calls graded.", "id"),
    "calls": _c("LLM calls.", "count"),
    "count": _c("Rows with this value.", "count"),
    # judge agreement
    "scope": _c("Overall or a domain.", "text"),
    "n_labels": _c("Expert labels compared (one per grader and checkpoint).", "count"),
    "n_judged": _c("Labels the judge gave a usable verdict for.", "count"),
    "agreement": _c("Share of labels where judge and expert agree (percent).", "percent"),
    "agreement_lo": _c("Lower 95% bootstrap bound of agreement (percent).", "percent"),
    "agreement_hi": _c("Upper 95% bootstrap bound of agreement (percent).", "percent"),
    "cdr": _c("Consistency-disagreement rate P(agree) - P(disagree), the paper's metric (percent).", "percent"),
    "cdr_lo": _c("Lower 95% bootstrap bound of CDR (percent).", "percent"),
    "cdr_hi": _c("Upper 95% bootstrap bound of CDR (percent).", "percent"),
    "cdr_ci": _c("95% bootstrap CI of CDR over tasks (percent); 'n/a' when too few tasks or degenerate.", "text"),
    "kappa": _c("Cohen's kappa (coefficient, -1 to 1).", "coefficient"),
    "kappa_lo": _c("Lower 95% bootstrap bound of kappa.", "coefficient"),
    "kappa_hi": _c("Upper 95% bootstrap bound of kappa.", "coefficient"),
    "balanced_f1": _c("Mean of the F1 of met and of not_met (percent).", "percent"),
    "balanced_f1_lo": _c("Lower 95% bootstrap bound of balanced F1 (percent).", "percent"),
    "balanced_f1_hi": _c("Upper 95% bootstrap bound of balanced F1 (percent).", "percent"),
    "healthbench_f1": _c("HealthBench's pairwise balanced F1 (percent).", "percent"),
}

# Where one name means something else in one table.
OVERRIDES: dict[tuple[str, str], Column] = {
    ("dimension_scores", "met"): _c("Checkpoints met.", "count"),
    ("importance_scores", "met"): _c("Checkpoints met.", "count"),
    ("task_scores", "score"): _c("Task score (percent): S = sum w x / sum w over judged checkpoints "
                                 "(points rubrics: achieved over positive points, unclipped).", "percent"),
    ("provenance", "score"): _c("Task score (percent), as in task_scores.", "percent"),
    ("paired_comparisons", "ci_lo"): _c("Lower bound of the paired bootstrap CI of mean_diff (points).", "percent"),
    ("paired_comparisons", "ci_hi"): _c("Upper bound of the paired bootstrap CI of mean_diff (points).", "percent"),
    ("lineage", "stage"): _c("Pipeline stage (asset).", "text"),
    ("lineage", "rows"): _c("Rows the stage holds.", "count"),
    ("rubric_findings", "source_path"): _c("Raw file the finding is about.", "text"),
}


def column(asset: str | None, name: str) -> Column | None:
    """The description and unit of `name` in `asset`'s table, or None when nobody documented it."""
    return OVERRIDES.get((asset or "", name)) or COLUMNS.get(name)


def unit(asset: str | None, name: str) -> str:
    c = column(asset, name)
    return c.unit if c else "text"


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT


def fmt(value: object, unit_name: str) -> str:
    """One value as text in its unit: percent with one decimal, counts as integers."""
    if _missing(value):
        return ""
    if unit_name == "percent":
        return f"{100 * float(value):.1f}"
    if unit_name == "count":
        return str(int(round(float(value))))
    if unit_name == "number":
        return f"{float(value):g}"
    if unit_name == "coefficient":
        return f"{float(value):.3f}"
    if unit_name == "usd":
        return f"{float(value):.4f}"
    if unit_name == "seconds":
        return f"{float(value):.2f}"
    if unit_name == "bool":
        return "yes" if bool(value) else "no"
    return str(value)


def ci_text(lo: float, hi: float, n: int | None = None, unit_name: str = "percent") -> str:
    """A confidence interval as text, or why there is none worth showing.

    With fewer than 2 tasks a bootstrap CI is the single value itself, and with every task scored
    alike it collapses to a point: both are labelled, never shown as if they were real intervals.
    """
    if _missing(lo) or _missing(hi):
        return "n/a"
    if n is not None and not _missing(n) and int(n) < 2:
        return f"n/a (n={int(n)}: too few tasks)"
    if float(lo) == float(hi):
        return "n/a (degenerate: no spread across tasks)"
    return f"{fmt(lo, unit_name)} - {fmt(hi, unit_name)}"


def with_ci(df: pd.DataFrame, n_col: str | None = None, lo: str = "ci_lo", hi: str = "ci_hi",
            name: str = "ci") -> pd.DataFrame:
    """`df` with its two CI bound columns replaced by one labelled text column, where the bounds were."""
    if lo not in df or hi not in df:
        return df
    n = df[n_col] if n_col and n_col in df else pd.Series([None] * len(df), index=df.index)
    out = df.copy()
    out.insert(list(df.columns).index(lo), name,
               [ci_text(a, b, k) for a, b, k in zip(df[lo], df[hi], n)])
    return out.drop(columns=[lo, hi])


def format_frame(df: pd.DataFrame, asset: str | None = None) -> pd.DataFrame:
    """Every cell as display text, by each column's unit (undocumented columns as text)."""
    return pd.DataFrame({c: [fmt(v, unit(asset, str(c))) for v in df[c]] for c in df.columns}, index=df.index)


def is_numeric(asset: str | None, name: str) -> bool:
    return unit(asset, name) in NUMERIC_UNITS
