import numpy as np
import pytest

from pipelines.core.agreement import summarize
from pipelines.core.stats import bootstrap_mean, paired_bootstrap_diff


def test_agreement_metrics_known_case():
    pairs = [(True, True)] * 6 + [(False, False)] * 2 + [(True, False)] * 1 + [(False, True)] * 1
    s = summarize([pairs[:5], pairs[5:]], samples=200)
    assert s.agreement.value == pytest.approx(0.8)
    assert s.cdr.value == pytest.approx(0.6)  # P(agree) - P(disagree)
    # kappa: po=0.8, pe = 0.7*0.7 + 0.3*0.3 = 0.58
    assert s.kappa.value == pytest.approx((0.8 - 0.58) / 0.42)
    # F1(met) = 12/14, F1(not met) = 4/6
    assert s.balanced_f1.value == pytest.approx((12 / 14 + 4 / 6) / 2)


def test_kappa_when_one_label_everywhere():
    s = summarize([[(True, True)] * 4], samples=100)
    assert s.kappa.value == 1.0 and s.agreement.value == 1.0


def test_judge_errors_excluded_from_agreement_and_counted():
    s = summarize([[(True, True), (True, None)], [(False, False)]], samples=200)
    assert s.n_judge_errors == 1 and s.n_judged == 2
    assert s.agreement.value == 1.0 and s.cdr.value == 1.0


def test_bootstrap_ci_covers_true_mean_at_about_nominal_rate():
    rng = np.random.default_rng(7)
    covered = 0
    trials = 300
    for t in range(trials):
        x = rng.beta(2, 3, size=60)  # true mean 0.4
        e = bootstrap_mean(x, samples=800, seed=t)
        covered += e.lo <= 0.4 <= e.hi
    # Percentile bootstrap at n=60 is slightly liberal; 95% nominal should land within ~89-99%.
    assert 0.89 <= covered / trials <= 0.99


def test_paired_bootstrap_finds_planted_difference_and_not_a_null_one():
    rng = np.random.default_rng(3)
    base = rng.uniform(0.2, 0.8, size=80)
    better = np.clip(base + 0.05 + rng.normal(0, 0.03, size=80), 0, 1)
    same = np.clip(base + rng.normal(0, 0.03, size=80), 0, 1)
    assert paired_bootstrap_diff(better, base, seed=1).excludes_zero
    assert not paired_bootstrap_diff(same, base, seed=1).excludes_zero


def test_paired_bootstrap_false_positive_rate_near_alpha():
    rng = np.random.default_rng(11)
    hits = sum(
        paired_bootstrap_diff(rng.normal(0, 1, 50), rng.normal(0, 1, 50), samples=500, seed=i).excludes_zero
        for i in range(200)
    )
    assert hits / 200 <= 0.10


def test_seeded_results_are_reproducible():
    x = [0.1, 0.5, 0.9, 0.3]
    assert bootstrap_mean(x, seed=5) == bootstrap_mean(x, seed=5)
