"""Judge-vs-expert agreement on checkpoint verdicts.

CDR (the paper's metric) = P(agree) - P(disagree) over checkpoints the judge could grade; with
binary labels this is 2*agreement - 1. Judge errors are not agreements or disagreements: they are
counted and reported separately.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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


def _judged(pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray]:
    kept = [(e, j) for e, j in pairs if j is not None]
    if not kept:
        return np.zeros(0, bool), np.zeros(0, bool)
    e, j = zip(*kept)
    return np.asarray(e, bool), np.asarray(j, bool)


def raw_agreement(pairs: Sequence[Pair]) -> float:
    e, j = _judged(pairs)
    return float((e == j).mean()) if e.size else float("nan")


def cdr(pairs: Sequence[Pair]) -> float:
    e, j = _judged(pairs)
    if not e.size:
        return float("nan")
    agree = (e == j).mean()
    return float(agree - (1 - agree))


def cohen_kappa(pairs: Sequence[Pair]) -> float:
    e, j = _judged(pairs)
    if not e.size:
        return float("nan")
    po = (e == j).mean()
    pe = e.mean() * j.mean() + (1 - e.mean()) * (1 - j.mean())
    if pe >= 1.0:
        return 1.0 if po == 1.0 else 0.0  # one label everywhere: kappa is undefined; report agreement
    return float((po - pe) / (1 - pe))


def balanced_f1(pairs: Sequence[Pair]) -> float:
    """Mean of the F1 for 'met' and the F1 for 'not met' (macro F1), experts as ground truth."""
    e, j = _judged(pairs)
    if not e.size:
        return float("nan")
    f1s = []
    for label in (True, False):
        tp = np.sum((j == label) & (e == label))
        fp = np.sum((j == label) & (e != label))
        fn = np.sum((j != label) & (e == label))
        denom = 2 * tp + fp + fn
        f1s.append(1.0 if denom == 0 else 2 * tp / denom)
    return float(np.mean(f1s))


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
