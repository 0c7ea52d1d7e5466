"""Seeded bootstrap statistics over tasks (the unit that was sampled into Gold)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    value: float
    lo: float
    hi: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        return self.lo > 0 or self.hi < 0


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def bootstrap_mean(values: Sequence[float], *, samples: int = 2000, confidence: float = 0.95,
                   seed: int = 0) -> Estimate:
    """Percentile bootstrap CI of the mean."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    idx = _rng(seed).integers(0, x.size, size=(samples, x.size))
    means = x[idx].mean(axis=1)
    a = (1 - confidence) / 2
    return Estimate(float(x.mean()), float(np.quantile(means, a)), float(np.quantile(means, 1 - a)), int(x.size))


def paired_bootstrap_diff(a: Sequence[float], b: Sequence[float], *, samples: int = 2000,
                          confidence: float = 0.95, seed: int = 0) -> Estimate:
    """Mean of a - b over shared tasks, resampling tasks (pairs stay together)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError("paired samples must have equal length")
    return bootstrap_mean(x - y, samples=samples, confidence=confidence, seed=seed)

