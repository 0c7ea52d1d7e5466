"""Pure scoring functions. Verdicts are three-state: True (met), False (not met), None (judge error).

XpertBench: S = sum(w_i x_i) / sum(w_i) over the checkpoints that were judged. A must-not checkpoint
carries a positive weight and counts as met when the error is avoided (the verdict already says so).
Judge errors are excluded from both sums and counted; above a share of errors a task is incomplete.

Points rubrics (schema 1.1, HealthBench): see `healthbench_score` and `clipped_mean`; the two kinds are
never averaged together (scores are reported per benchmark source).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Verdict = bool | None


@dataclass(frozen=True)
class TaskScore:
    score: float | None  # None when nothing could be judged
    weight_met: float
    weight_judged: float
    weight_total: float
    n_checkpoints: int
    n_met: int
    n_judge_errors: int
    complete: bool


def weighted_score(weights: Sequence[float], verdicts: Sequence[Verdict], max_error_share: float = 0.2) -> TaskScore:
    if len(weights) != len(verdicts):
        raise ValueError(f"{len(weights)} weights but {len(verdicts)} verdicts")
    if any(w <= 0 for w in weights):
        raise ValueError("XpertBench weights are positive; use healthbench_score for signed points")
    judged = [(w, v) for w, v in zip(weights, verdicts) if v is not None]
    w_judged = sum(w for w, _ in judged)
    w_met = sum(w for w, v in judged if v)
    n_err = len(weights) - len(judged)
    share = n_err / len(weights) if weights else 1.0
    return TaskScore(
        score=(w_met / w_judged) if w_judged > 0 else None,
        weight_met=w_met,
        weight_judged=w_judged,
        weight_total=float(sum(weights)),
        n_checkpoints=len(weights),
        n_met=sum(1 for _, v in judged if v),
        n_judge_errors=n_err,
        complete=bool(weights) and share <= max_error_share and w_judged > 0,
    )


def healthbench_score(points: Sequence[float], verdicts: Sequence[Verdict]) -> float | None:
    """HealthBench rule (openai/simple-evals `calculate_score`): points may be negative (penalties,
    counted when the judge says the answer does what the penalty describes, i.e. 'met').

    Score = sum of points of met items / sum of positive points, NOT clipped: the reference clips only
    the aggregate mean (`clipped_mean`), so a penalised example below 0 pulls the mean down. Judge
    errors are excluded from the numerator and their positive points from the denominator.
    """
    if len(points) != len(verdicts):
        raise ValueError(f"{len(points)} points but {len(verdicts)} verdicts")
    judged = [(p, v) for p, v in zip(points, verdicts) if v is not None]
    positive = sum(p for p, _ in judged if p > 0)
    if positive <= 0:
        return None
    achieved = sum(p for p, v in judged if v)
    return achieved / positive


def points_task_score(points: Sequence[float], verdicts: Sequence[Verdict], max_error_share: float = 0.2) -> TaskScore:
    """`healthbench_score` in the TaskScore shape: weight_* hold achieved / positive judged / positive points."""
    if len(points) != len(verdicts):
        raise ValueError(f"{len(points)} points but {len(verdicts)} verdicts")
    judged = [(p, v) for p, v in zip(points, verdicts) if v is not None]
    positive = sum(p for p, _ in judged if p > 0)
    n_err = len(points) - len(judged)
    share = n_err / len(points) if points else 1.0
    return TaskScore(
        score=healthbench_score(points, verdicts),
        weight_met=float(sum(p for p, v in judged if v)),
        weight_judged=float(positive),
        weight_total=float(sum(p for p in points if p > 0)),
        n_checkpoints=len(points),
        n_met=sum(1 for _, v in judged if v),
        n_judge_errors=n_err,
        complete=bool(points) and share <= max_error_share and positive > 0,
    )


def clipped_mean(values: Sequence[float]) -> float:
    """HealthBench's aggregate (`_compute_clipped_stats(..., "mean")`): mean of unclipped scores, clipped."""
    return float(np.clip(np.mean(np.asarray(values, dtype=float)), 0.0, 1.0))


def clipped_bootstrap(values: Sequence[float], *, samples: int = 2000, confidence: float = 0.95,
                      seed: int = 0) -> tuple[float, float, float, float]:
    """Bootstrap of the clipped mean, clipping each replicate's mean as the reference does.

    Returns (clipped mean, std of the replicates (HealthBench's `bootstrap_std`), lo, hi)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        nan = float("nan")
        return nan, nan, nan, nan
    idx = np.random.default_rng(seed).integers(0, x.size, size=(samples, x.size))
    reps = np.clip(x[idx].mean(axis=1), 0.0, 1.0)
    a = (1 - confidence) / 2
    return clipped_mean(x), float(np.std(reps)), float(np.quantile(reps, a)), float(np.quantile(reps, 1 - a))


def group_met_rate(weights: Sequence[float], verdicts: Sequence[Verdict]) -> float | None:
    """Weighted met rate of a subset of checkpoints (a dimension, an importance level)."""
    judged = [(w, v) for w, v in zip(weights, verdicts) if v is not None]
    total = sum(w for w, _ in judged)
    return (sum(w for w, v in judged if v) / total) if total > 0 else None
