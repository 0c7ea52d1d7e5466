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


SUMMARY_COLUMNS = ["judge_mode", "scope", "n_tasks", "n_checkpoints", "n_judged", "n_judge_errors",
                   "agreement", "agreement_lo", "agreement_hi", "cdr", "cdr_lo", "cdr_hi", "kappa",
                   "kappa_lo", "kappa_hi", "balanced_f1", "balanced_f1_lo", "balanced_f1_hi", "judge_config"]


def summary_table(df: pd.DataFrame, samples: int, seed: int, config_hash: str) -> pd.DataFrame:
    """Per judge mode, Overall and per domain. `df`: judge_mode, domain, task_id, expert_met, met."""
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
