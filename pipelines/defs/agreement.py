"""Judge meta-evaluation: the judge grades expert-verified anchor answers; compare with the experts."""

import dagster as dg
import pandas as pd

from pipelines.core.agreement import summarize
from pipelines.core.anchors import other_task_example
from pipelines.core.judging import JudgeJob, run_judging
from pipelines.defs import versions
from pipelines.defs.common import AUTO, hashed_output, md_table, submissions_by_id
from pipelines.defs.judging import judge_config_hash, verdict_rows
from pipelines.defs.resources import XpertBenchResource
from pipelines.llm.runner import LLMRunner

GROUP = "judging"
SUMMARY_COLUMNS = ["judge_mode", "scope", "n_tasks", "n_checkpoints", "n_judged", "n_judge_errors",
                   "agreement", "agreement_lo", "agreement_hi", "cdr", "cdr_lo", "cdr_hi", "kappa",
                   "kappa_lo", "kappa_hi", "balanced_f1", "balanced_f1_lo", "balanced_f1_hi",
                   "judge_config"]


def summary_rows(df: pd.DataFrame, samples: int, seed: int, config_hash: str) -> pd.DataFrame:
    rows = []
    for mode, by_mode in df.groupby("judge_mode", sort=True):
        scopes = [("Overall", by_mode)] + [(d, g) for d, g in by_mode.groupby("domain", sort=True)]
        for scope, g in scopes:
            per_task = [list(zip(t["expert_met"], [None if pd.isna(x) else bool(x) for x in t["met"]]))
                        for _, t in g.groupby("task_id", sort=True)]
            s = summarize(per_task, samples=samples, seed=seed)
            row = {"judge_mode": mode, "scope": scope, "n_tasks": len(per_task), "n_checkpoints": s.n_checkpoints,
                   "n_judged": s.n_judged, "n_judge_errors": s.n_judge_errors, "judge_config": config_hash}
            for name in ("agreement", "cdr", "kappa", "balanced_f1"):
                e = getattr(s, name)
                row.update({name: e.value, f"{name}_lo": e.lo, f"{name}_hi": e.hi})
            rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


@dg.multi_asset(
    outs={
        "anchor_judgements": dg.AssetOut(
            group_name=GROUP, automation_condition=AUTO, code_version=versions.AGREEMENT, kinds={"openai", "parquet"},
            description="The judge's verdicts on the expert-graded anchor answers of Gold tasks, beside the "
            "experts' verdicts, in ShotJudge mode (worked example from another task of the same domain) and "
            "zero-shot mode.",
        ),
        "judge_agreement": dg.AssetOut(
            group_name=GROUP, automation_condition=AUTO, code_version=versions.AGREEMENT, kinds={"pandas", "parquet"},
            description="Judge vs expert agreement: raw agreement, CDR = P(agree) - P(disagree) (the paper's "
            "metric), Cohen's kappa and balanced F1, overall and per domain, with task-level bootstrap CIs; "
            "ShotJudge and zero-shot side by side.",
        ),
    },
    ins={"tasks": dg.AssetIn(), "gold_tasks": dg.AssetIn()},
)
def judge_meta_evaluation(context: dg.AssetExecutionContext, xpertbench: XpertBenchResource,
                          tasks: pd.DataFrame, gold_tasks: pd.DataFrame):
    cfg = xpertbench.config()
    models = xpertbench.models()
    pool = submissions_by_id(tasks)
    gold = [pool[t] for t in gold_tasks["task_id"] if pool[t].anchor is not None]
    jobs, extra, expert = [], {}, {}
    for s in gold:
        expert.update({(s.submission_id, v.checkpoint_id): v.verdict == "met" for v in s.anchor.verdicts})
        example = other_task_example(s, pool.values())
        for mode, ex in (("shotjudge", example), ("zeroshot", None)):
            if mode == "shotjudge" and ex is None:
                context.log.warning(f"{s.submission_id}: no other anchored task in {s.domain}; ShotJudge skipped")
                continue
            key = (s.submission_id, mode)
            jobs.append(JudgeJob(key, s, s.anchor.response, ex, mode, {"task_id": s.submission_id,
                                                                           "candidate": "anchor"}))
            extra[key] = {"task_id": s.submission_id, "model": f"anchor:{s.anchor.model}",
                          "generation_call_key": None, "domain": s.domain}
    with LLMRunner(models, xpertbench.call_store_path, log=context.log.info) as runner:
        verdicts = run_judging(jobs, lambda reqs: runner.run(reqs, desc="judge_agreement"),
                               judge_model=models.judge, template_version=cfg.judge.template_version,
                               per_call=cfg.judge.checkpoints_per_call, max_attempts=cfg.judge.max_attempts)
    ch = judge_config_hash(xpertbench)
    df = verdict_rows(verdicts, jobs, models.judge, cfg.judge.template_version, ch, extra)
    # Only checkpoints the experts graded take part in the comparison.
    df["expert_met"] = [expert.get((t, c)) for t, c in zip(df["task_id"], df["checkpoint_id"])]
    df = df[df["expert_met"].notna()].reset_index(drop=True)
    summary = summary_rows(df, cfg.agreement.bootstrap_samples, cfg.agreement.seed, ch)
    yield hashed_output(df, "anchor_judgements", {"verdicts": len(df), "tasks": df["task_id"].nunique()})
    yield hashed_output(summary, "judge_agreement", {
        "table": md_table(summary[["judge_mode", "scope", "n_tasks", "agreement", "cdr", "kappa", "balanced_f1"]]),
        "gold_tasks_with_anchor": len(gold),
    })
