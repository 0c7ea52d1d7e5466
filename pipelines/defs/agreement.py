"""Judge meta-evaluation: the judge grades expert-verified anchor answers; compare with the experts."""

import dagster as dg
import pandas as pd

from pipelines.core.agreement import summary_table
from pipelines.core.anchors import agreement_jobs
from pipelines.core.judging import VERDICT_ERRORS, judge_config_hash, run_judging, verdict_frame
from pipelines.core.meta_eval import meta_eval_jobs, physician_pairs
from pipelines.core.submission import Submission
from pipelines.defs.common import AUTO, Build, hashed_output, submissions_by_id
from pipelines.core.columns import with_ci
from pipelines.defs.columns import ui_table
from pipelines.defs.resources import LLMResource, XpertBenchResource

GROUP = "judging"
AGREEMENT_VIEW = ["benchmark", "judge_mode", "scope", "n_tasks", "n_labels", "n_judge_errors", "agreement", "cdr",
                  "cdr_ci", "kappa", "balanced_f1", "healthbench_f1"]


def judge_meta_evaluation(context: dg.AssetExecutionContext, xpertbench: XpertBenchResource, llm: LLMResource,
                          tasks: pd.DataFrame, gold_tasks: pd.DataFrame, submissions: pd.DataFrame):
    cfg = xpertbench.config()
    models = xpertbench.models()
    pool = submissions_by_id(tasks)
    jobs, extra, expert, skipped = agreement_jobs([pool[t] for t in gold_tasks["task_id"]], pool.values())
    for tid in skipped:
        context.log.warning(f"{tid}: no other anchored task in its domain; ShotJudge agreement skipped")
    for key in extra:
        extra[key].update({"benchmark": pool[key[0]].benchmark, "completion_id": "anchor"})
    # Meta-evaluation sets (graded completions, e.g. HealthBench physician labels) are not tasks: they
    # come from the valid submissions, whatever curation decided about benchmark tasks.
    sets = [s for s in (Submission.model_validate_json(p) for p in submissions["payload_json"] if "meta_eval" in p)
            if s.source.use == "meta_eval"]
    meta_jobs, meta_extra, labels = meta_eval_jobs(sets)
    jobs, extra = jobs + meta_jobs, {**extra, **meta_extra}
    runner = llm.runner
    verdicts = run_judging(jobs, lambda reqs: runner.run(reqs, desc="judge_agreement", check=VERDICT_ERRORS),
                           judge_model=models.judge, template_version=cfg.judge.template_version,
                           per_call=cfg.judge.checkpoints_per_call, max_attempts=cfg.judge.max_attempts, reject=runner.reject,
                           rationale_max_chars=cfg.judge.rationale_max_chars)
    ch = judge_config_hash(cfg.judge, models)
    df = verdict_frame(verdicts, jobs, models.judge, cfg.judge.template_version, ch, extra)
    for col in ("benchmark", "completion_id"):  # no anchors and no meta-evaluation sets: keep the columns
        if col not in df:
            df[col] = pd.Series(dtype="str")
    # One row per expert label (anchors: the experts' one verdict; meta-evaluation: each grader's label).
    labels.update({(t, "anchor", c): [("anchor-experts", met)] for (t, c), met in expert.items()})
    df["labels"] = [labels.get((t, comp, c), []) for t, comp, c in
                    zip(df["task_id"], df["completion_id"], df["checkpoint_id"])]
    df = df.explode("labels").dropna(subset=["labels"]).reset_index(drop=True)
    df["grader_id"] = [lab[0] for lab in df["labels"]]
    df["expert_met"] = [lab[1] for lab in df["labels"]]
    df = df.drop(columns="labels")
    summary = summary_table(df, cfg.agreement.bootstrap_samples, cfg.agreement.seed, ch)
    summary = pd.concat([summary, physician_baseline(labels, sets, cfg, ch)], ignore_index=True)
    yield hashed_output(df, "anchor_judgements", {"verdicts": len(df), "tasks": df["task_id"].nunique()})
    yield hashed_output(summary, "judge_agreement", {
        "summary": ui_table(with_ci(summary, "n_tasks", "cdr_lo", "cdr_hi", "cdr_ci")[
            [c for c in AGREEMENT_VIEW if c in summary or c == "cdr_ci"]], "judge_agreement", max_rows=200),
        "meta_evaluation_sets": len(sets),
        "gold_tasks_with_anchor": len({j.key[0] for j in jobs}),
    })


def physician_baseline(labels: dict, sets: list[Submission], cfg, config_hash: str) -> pd.DataFrame:
    """Each grader against the other graders of the same item: the human reference for the judge's figures."""
    domain = {s.submission_id: (s.domain, s.benchmark) for s in sets}
    pairs = physician_pairs({k: v for k, v in labels.items() if k[1] != "anchor"})
    if not pairs:
        return pd.DataFrame()
    # An item is (completion/criterion, rating grader): its label against each other grader's label.
    df = pd.DataFrame([{"task_id": sid, "completion_id": item, "checkpoint_id": grader, "expert_met": other,
                        "met": mine, "judge_mode": "graders_vs_graders", "domain": domain[sid][0],
                        "benchmark": domain[sid][1]} for sid, item, grader, other, mine in pairs])
    return summary_table(df, cfg.agreement.bootstrap_samples, cfg.agreement.seed, config_hash)


def build(b: Build) -> list:
    """This stage's assets and checks, versioned and partitioned by the run's settings."""
    return [
        dg.multi_asset(
            outs={
                "anchor_judgements": dg.AssetOut(
                    group_name=GROUP, automation_condition=AUTO, code_version=b.versions["agreement"], kinds={"openai", "parquet"},
                    description="The judge's verdicts on the expert-graded anchor answers of Gold tasks, beside the "
                    "experts' verdicts, in ShotJudge mode (worked example from another task of the same domain) and "
                    "zero-shot mode.",
                ),
                "judge_agreement": dg.AssetOut(
                    group_name=GROUP, automation_condition=AUTO, code_version=b.versions["agreement"], kinds={"pandas", "parquet"},
                    description="Judge vs expert agreement per benchmark source: raw agreement, CDR = P(agree) - "
                    "P(disagree) (the paper's metric), Cohen's kappa, balanced F1 and HealthBench's pairwise balanced "
                    "F1, overall and per domain, with task-level bootstrap CIs; ShotJudge and zero-shot side by side; "
                    "from anchor answers and from meta-evaluation sets (every grader's label one pair), with the "
                    "graders-vs-graders baseline.",
                ),
            },
            ins={"tasks": dg.AssetIn(), "gold_tasks": dg.AssetIn(), "submissions": dg.AssetIn()},
        )(judge_meta_evaluation),
    ]
