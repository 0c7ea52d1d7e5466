"""Turn per-checkpoint verdict rows into per-(task, model) scores (pure, table in, table out)."""

from __future__ import annotations

import json

import pandas as pd

from pipelines.core.scoring import group_met_rate, points_task_score, weighted_score

SCORE_COLUMNS = [
    "task_id", "model", "domain", "status", "score", "complete", "n_checkpoints", "n_met",
    "n_judge_errors", "weight_met", "weight_judged", "weight_total", "by_importance", "by_dimension",
    "rubric_hash", "judge_config", "benchmark", "rubric_kind", "answer_truncated",
]


def score_tasks(verdicts: pd.DataFrame, rubrics: pd.DataFrame, generations: pd.DataFrame,
                gold: pd.DataFrame, model: str, max_error_share: float) -> pd.DataFrame:
    """One row per Gold task. A task whose generation failed is `generation_error`, never a zero."""
    rub = rubrics.set_index(["task_id", "checkpoint_id"])
    rows = []
    for g in gold.itertuples():
        v = verdicts[verdicts["task_id"] == g.task_id]
        gen = generations[generations["task_id"] == g.task_id]
        # An answer cut off at max_tokens is scored as judged, and flagged (generation.truncation).
        cut = gen["finish_reason"].eq("length") & gen["ok"] if "finish_reason" in gen else pd.Series(False, gen.index)
        base = {"task_id": g.task_id, "model": model, "domain": g.domain,
                "benchmark": getattr(g, "benchmark", "xpertbench"), "answer_truncated": bool(cut.any())}
        if gen.empty or not gen["ok"].any():
            err = "" if gen.empty else str(gen["error_type"].iloc[0])
            rows.append({**base, "status": f"generation_error{(': ' + err) if err else ''}", "score": None,
                         "complete": False})
            continue
        r = rub.loc[g.task_id].loc[v["checkpoint_id"]]
        met = [None if x is None or pd.isna(x) else bool(x) for x in v["met"]]
        # Rubric kind decides the rule: points (HealthBench, signed, unclipped) or weights (XpertBench).
        points_kind = "points" in r and r["points"].notna().all()
        if points_kind:
            weights = r["points"].tolist()
            s = points_task_score(weights, met, max_error_share)
        else:
            weights = r["weight"].tolist()
            s = weighted_score(weights, met, max_error_share)
        by_imp = {} if points_kind else {lvl: group_met_rate([w for w, i in zip(weights, r["importance"]) if i == lvl],
                                      [m for m, i in zip(met, r["importance"]) if i == lvl])
                  for lvl in sorted(set(r["importance"]))}
        by_dim = {} if points_kind else {d: group_met_rate([w for w, x in zip(weights, r["dimension"]) if x == d],
                                    [m for m, x in zip(met, r["dimension"]) if x == d])
                  for d in sorted(set(r["dimension"]))}
        rows.append({
            **base, "status": "scored" if s.complete else "incomplete", "score": s.score,
            "complete": s.complete, "n_checkpoints": s.n_checkpoints, "n_met": s.n_met,
            "n_judge_errors": s.n_judge_errors, "weight_met": s.weight_met, "weight_judged": s.weight_judged,
            "weight_total": s.weight_total, "by_importance": json.dumps(by_imp), "by_dimension": json.dumps(by_dim),
            "rubric_hash": r["rubric_hash"].iloc[0], "judge_config": v["judge_config"].iloc[0],
            "rubric_kind": "points" if points_kind else "weighted",
        })
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)
