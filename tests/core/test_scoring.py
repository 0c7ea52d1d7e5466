import pytest

from pipelines.core.scoring import clipped_bootstrap, clipped_mean, group_met_rate, healthbench_score, weighted_score


def test_weighted_score_matches_formula():
    s = weighted_score([10, 7, 2], [True, False, True])
    assert s.score == pytest.approx(12 / 19)
    assert (s.n_met, s.n_judge_errors, s.complete) == (2, 0, True)


def test_paper_finance_example_weights():
    # 7 Essential (10) + 5 Important (7) = 105 points; missing one Important gives 98/105.
    weights = [10] * 7 + [7] * 5
    verdicts = [True] * 11 + [False]
    assert weighted_score(weights, verdicts).score == pytest.approx(98 / 105)


def test_judge_errors_are_excluded_and_counted_never_scored():
    s = weighted_score([10, 10, 10, 10, 10], [True, None, False, True, True])
    assert s.score == pytest.approx(30 / 40)
    assert s.n_judge_errors == 1 and s.weight_judged == 40 and s.weight_total == 50
    assert s.complete  # 1/5 = 20% is at the default limit
    assert not weighted_score([10] * 5, [True, None, None, True, True]).complete


def test_all_errors_gives_no_score():
    s = weighted_score([5, 5], [None, None])
    assert s.score is None and not s.complete


def test_invalid_inputs():
    with pytest.raises(ValueError):
        weighted_score([1, 2], [True])
    with pytest.raises(ValueError):
        weighted_score([1, -2], [True, True])


def test_healthbench_negative_points_and_clipping():
    # +5 met, +3 not met, -4 penalty 'met' (the bad behaviour happened): (5 - 4) / 8
    assert healthbench_score([5, 3, -4], [True, False, True]) == pytest.approx(1 / 8)
    assert healthbench_score([2, -9], [False, True]) == pytest.approx(-4.5)  # unclipped per example
    assert healthbench_score([-1], [True]) is None
    assert healthbench_score([4, 4], [True, None]) == 1.0


def test_group_met_rate():
    assert group_met_rate([10, 2], [True, False]) == pytest.approx(10 / 12)
    assert group_met_rate([3], [None]) is None


# -- HealthBench reference rule, re-implemented here from its definition (simple-evals healthbench_eval.py):
# calculate_score = sum(points of met items) / sum(points > 0); None when no positive points;
# aggregate = clip(mean(per-example scores), 0, 1); bootstrap replicates are clipped means too.

def _reference_example(points, met):
    total_possible = 0.0
    for p in points:
        if p > 0:
            total_possible += p
    if total_possible == 0:
        return None
    achieved = 0.0
    for p, m in zip(points, met):
        if m:
            achieved += p
    return achieved / total_possible


def _reference_aggregate(scores):
    m = sum(scores) / len(scores)
    return 0.0 if m < 0 else 1.0 if m > 1 else m


def test_points_score_equals_reference_rule_on_random_vectors():
    import random

    rnd = random.Random(20261205)
    checked = 0
    per_example = []
    while checked < 1500:
        n = rnd.randint(1, 15)
        points = [rnd.choice([-10, -8, -5, -3, -2, -1, 1, 2, 3, 5, 7, 10]) for _ in range(n)]
        met = [rnd.random() < 0.5 for _ in range(n)]
        want = _reference_example(points, met)
        got = healthbench_score(points, met)
        if want is None:
            assert got is None
            continue
        assert got == pytest.approx(want, abs=1e-12)
        per_example.append(got)
        checked += 1
        # all met / all not met on the same rubric
        assert healthbench_score(points, [True] * n) == pytest.approx(_reference_example(points, [True] * n))
        assert healthbench_score(points, [False] * n) == pytest.approx(0.0)
    assert any(x < 0 for x in per_example), "the random vectors must include negative examples"
    for k in range(0, len(per_example), 50):
        chunk = per_example[k:k + 50]
        assert clipped_mean(chunk) == pytest.approx(_reference_aggregate(chunk), abs=1e-12)


def test_all_met_without_penalties_is_one_and_penalties_can_go_below_zero_until_the_mean():
    assert healthbench_score([3, 2, 5], [True] * 3) == 1.0
    assert healthbench_score([3, -2, 5], [False] * 3) == 0.0
    assert healthbench_score([3, -2, 5], [True] * 3) == pytest.approx(6 / 8)
    # one example at -1.5 and one at 1.0: the mean is -0.25, clipped to 0 only at the aggregate
    assert clipped_mean([healthbench_score([2, -5], [False, True]), 1.0]) == pytest.approx(0.0)
    assert clipped_mean([healthbench_score([2, -1], [True, True]), 1.0]) == pytest.approx(0.75)


def test_clipped_bootstrap_clips_each_replicate():
    import numpy as np

    values = [-2.0, -1.0, 1.0, 0.9]
    mean, std, lo, hi = clipped_bootstrap(values, samples=500, seed=3)
    assert mean == 0.0
    assert 0.0 <= lo <= hi <= 1.0
    idx = np.random.default_rng(3).integers(0, 4, size=(500, 4))
    reps = [_reference_aggregate([values[i] for i in row]) for row in idx]
    assert std == pytest.approx(float(np.std(reps)))
