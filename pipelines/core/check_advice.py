"""What a failed blocking check says: its figure, its limit, and the next step to take.

Pure functions over the frames the checks read; the Dagster checks put the result in their metadata
(`explanation`) and the CLI prints it when a run fails (pipelines/cli/check_lines.py).
"""

from __future__ import annotations

import pandas as pd

from pipelines.core.columns import fmt

FORMAT_KINDS = {"invalid_json", "no_verdicts_list", "missing_id", "duplicated_id", "invalid_value", "empty_reply"}


def judge_error_kinds(judgements: pd.DataFrame) -> pd.Series:
    errors = judgements[judgements["verdict"] == "judge_error"]
    kinds = errors["error_kind"] if "error_kind" in errors else pd.Series("unclassified", index=errors.index)
    return kinds.fillna("unclassified").value_counts()


def judge_next_step(kinds: pd.Series, judge: str, model: str) -> str:
    """The fix for the most frequent kind of judge error."""
    top = str(kinds.index[0]) if len(kinds) else ""
    if top == "cut_off":
        step = (f"the judge's replies stop at its max_tokens: raise max_tokens for {judge} in the models config, "
                "or lower judge.checkpoints_per_call")
    elif top in FORMAT_KINDS:
        step = (f"the judge does not follow the reply format: set structured_output: json_schema for {judge} "
                "(if its server supports it), or use a stronger judge model")
    elif top == "call_failed":
        step = (f"judge calls to {judge} failed: read error_reason in judgements[{model}] (a full context "
                "window shows as HTTP 400; `xpertbench estimate` checks prompt sizes)")
    else:
        step = f"read error_reason in judgements[{model}]"
    return (f"{step}; then `xpertbench run --model {model}` asks again only for the verdicts still missing "
            f"(see one task with `xpertbench trace TASK --model {model}`)")


def judge_error_explanation(judgements: pd.DataFrame, limit: float, judge: str, model: str) -> str:
    n = len(judgements)
    kinds = judge_error_kinds(judgements)
    errors = int(kinds.sum())
    rate = errors / n if n else 0.0
    by_kind = ", ".join(f"{k} {v}" for k, v in kinds.items()) or "none"
    # Percent with one decimal, as every rate the user sees (the limit is checks.max_judge_error_rate).
    head = (f"judge_error_rate {fmt(rate, 'percent')}% {'>' if rate > limit else '<='} {fmt(limit, 'percent')}% "
            f"for {judge} judging {model} "
            f"({errors} of {n} verdicts; {by_kind})")
    return head if rate <= limit else f"{head}. Next: {judge_next_step(kinds, judge, model)}"


def gold_coverage_explanation(task_scores: pd.DataFrame, gold_ids: list[str], model: str, max_error_share: float) -> str:
    missing = sorted(set(gold_ids) - set(task_scores["task_id"]))
    bad = task_scores[~task_scores["complete"].astype(bool)]
    gen_err = bad[bad["status"].astype(str).str.startswith("generation_error")]
    over = bad[bad["status"] == "incomplete"]
    head = (f"{len(gold_ids) - len(missing) - len(bad)} of {len(gold_ids)} Gold tasks complete for {model} "
            f"({len(gen_err)} generation errors, {len(over)} over judge.max_error_share {max_error_share:.2f}, "
            f"{len(missing)} missing)")
    if not missing and not len(bad):
        return head
    steps = []
    if len(gen_err):
        steps.append(f"generation errors ({', '.join(sorted(gen_err['task_id'])[:3])}): read error_message in "
                     f"generations[{model}] and fix the model or provider settings")
    if len(over):
        steps.append("too many judge errors per task: see the judge_error_rate check of this model")
    if missing:
        steps.append("tasks missing from task_scores: rerun `xpertbench refresh`")
    return f"{head}. Next: {'; '.join(steps)}"
