"""Judge-vs-expert agreement on checkpoint verdicts.

CDR (the paper's metric) = P(agree) - P(disagree) over checkpoints the judge could grade; with
binary labels this is 2*agreement - 1. Judge errors are not agreements or disagreements: they are
counted and reported separately.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.core.stats import Estimate

Pair = tuple[bool, bool | None]  # (expert verdict, judge verdict or None for judge error)


@dataclass(frozen=True)
class AgreementSummary:
    n_checkpoints: int
    n_judged: int
    n_judge_errors: int
    agreement: Estimate
    cdr: Estimate
    kappa: Estimate
    balanced_f1: Estimate


def confusion_counts(task: Sequence[Pair]) -> list[int]:
    tp = sum(1 for e, j in task if j is not None and e and j)
    fp = sum(1 for e, j in task if j is not None and not e and j)
    fn = sum(1 for e, j in task if j is not None and e and not j)
    tn = sum(1 for e, j in task if j is not None and not e and not j)
    return [tp, fp, fn, tn]


def metrics_from_confusion(c: np.ndarray) -> np.ndarray:
    """Columns: agreement, CDR, kappa, balanced F1 for each row [tp, fp, fn, tn]."""
    c = np.atleast_2d(c).astype(float)
    tp, fp, fn, tn = c.T
    n = tp + fp + fn + tn
    with np.errstate(invalid="ignore", divide="ignore"):
        po = (tp + tn) / n
        pe = ((tp + fn) * (tp + fp) + (tn + fp) * (tn + fn)) / n**2
        kappa = np.where(pe >= 1.0, np.where(po == 1.0, 1.0, 0.0), (po - pe) / (1 - pe))
        d_pos, d_neg = 2 * tp + fp + fn, 2 * tn + fp + fn
        f1_pos = np.where(d_pos == 0, 1.0, 2 * tp / d_pos)
        f1_neg = np.where(d_neg == 0, 1.0, 2 * tn / d_neg)
    return np.column_stack([po, 2 * po - 1, kappa, (f1_pos + f1_neg) / 2])


def summarize(pairs_by_task: Sequence[Sequence[Pair]], *, samples: int = 2000, confidence: float = 0.95,
              seed: int = 0) -> AgreementSummary:
    """Point estimates with bootstrap CIs that resample tasks (checkpoints of a task move together).

    Every metric is a function of the pooled confusion matrix, so a bootstrap replicate is just a
    sum of per-task confusion rows: fast enough for thousands of replicates.
    """
    flat = [p for task in pairs_by_task for p in task]
    n_err = sum(1 for _, j in flat if j is None)
    per_task = np.array([confusion_counts(t) for t in pairs_by_task], dtype=float).reshape(-1, 4)
    point = metrics_from_confusion(per_task.sum(axis=0))[0]
    if len(per_task):
        idx = np.random.default_rng(seed).integers(0, len(per_task), size=(samples, len(per_task)))
        boots = metrics_from_confusion(per_task[idx].sum(axis=1))
    else:
        boots = np.full((1, 4), np.nan)
    a = (1 - confidence) / 2
    lo, hi = np.nanquantile(boots, a, axis=0), np.nanquantile(boots, 1 - a, axis=0)
    est = [Estimate(float(point[k]), float(lo[k]), float(hi[k]), len(per_task)) for k in range(4)]
    return AgreementSummary(len(flat), len(flat) - n_err, n_err, *est)


SUMMARY_COLUMNS = ["benchmark", "judge_mode", "scope", "n_tasks", "n_checkpoints", "n_labels", "n_judged",
                   "n_judge_errors", "agreement", "agreement_lo", "agreement_hi", "cdr", "cdr_lo", "cdr_hi", "kappa",
                   "kappa_lo", "kappa_hi", "balanced_f1", "balanced_f1_lo", "balanced_f1_hi", "healthbench_f1",
                   "judge_config"]
ITEM = ["task_id", "completion_id", "checkpoint_id"]


def _healthbench_f1(g: pd.DataFrame) -> float:
    """HealthBench's balanced F1 over (judge, label) pairs, items being (task, completion, criterion)."""
    from pipelines.core.meta_eval import healthbench_pairwise_f1

    judged = g[g["met"].notna()]
    keys = [k for k in ITEM if k in judged]
    items = [(bool(t["met"].iloc[0]), [bool(x) for x in t["expert_met"]]) for _, t in judged.groupby(keys, sort=True)]
    f1 = healthbench_pairwise_f1([a for a, _ in items], [b for _, b in items]) if items else None
    return float("nan") if f1 is None else f1


def summary_table(df: pd.DataFrame, samples: int, seed: int, config_hash: str) -> pd.DataFrame:
    """Per benchmark source and judge mode, Overall and per domain.

    `df`: one row per expert label: judge_mode, domain, task_id, checkpoint_id, expert_met, met (the judge's
    verdict, None for a judge error), and optionally benchmark and completion_id. A checkpoint graded by
    several experts has one row per expert, so every label is one (expert, judge) pair (HealthBench's
    pairwise rule); checkpoints of a task move together in the bootstrap.
    """
    df = df.copy()
    df["benchmark"] = df["benchmark"].fillna("xpertbench") if "benchmark" in df else "xpertbench"
    if "completion_id" not in df:
        df["completion_id"] = "anchor"
    rows = []
    for (bench, mode), by_mode in df.groupby(["benchmark", "judge_mode"], sort=True):
        scopes = [("Overall", by_mode)] + [(d, g) for d, g in by_mode.groupby("domain", sort=True)]
        for scope, g in scopes:
            per_task = [list(zip(t["expert_met"], [None if pd.isna(x) else bool(x) for x in t["met"]]))
                        for _, t in g.groupby("task_id", sort=True)]
            s = summarize(per_task, samples=samples, seed=seed)
            row = {"benchmark": bench, "judge_mode": mode, "scope": scope, "n_tasks": len(per_task),
                   "n_checkpoints": int(g[ITEM].drop_duplicates().shape[0]), "n_labels": s.n_checkpoints,
                   "n_judged": s.n_judged, "n_judge_errors": s.n_judge_errors, "judge_config": config_hash,
                   "healthbench_f1": _healthbench_f1(g)}
            for name in ("agreement", "cdr", "kappa", "balanced_f1"):
                e = getattr(s, name)
                row.update({name: e.value, f"{name}_lo": e.lo, f"{name}_hi": e.hi})
            rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
