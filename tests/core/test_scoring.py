import pytest

from pipelines.core.scoring import group_met_rate, healthbench_score, weighted_score


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
    assert healthbench_score([2, -9], [False, True]) == 0.0  # clipped at 0
    assert healthbench_score([-1], [True]) is None
    assert healthbench_score([4, 4], [True, None]) == 1.0


def test_group_met_rate():
    assert group_met_rate([10, 2], [True, False]) == pytest.approx(10 / 12)
    assert group_met_rate([3], [None]) is None
