"""Meta-evaluation: HealthBench's pairwise balanced F1, reproduced; labels from several graders."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from pipelines.core.agreement import confusion_counts, metrics_from_confusion, summary_table
from pipelines.core.meta_eval import graded_example, healthbench_pairwise_f1, meta_eval_jobs, physician_pairs
from pipelines.core.submission import Submission
from tests.core.test_schema_1_1 import meta_eval_set


def test_matches_the_reference_test_case():
    # openai/simple-evals healthbench_meta_eval_test.py: precision pos 2/4, neg 1/2; recall pos 2/3, neg 1/3.
    pp, pn, rp, rn = 2 / 4, 1 / 2, 2 / 3, 1 / 3
    want = (2 * pp * rp / (pp + rp) + 2 * pn * rn / (pn + rn)) / 2
    got = healthbench_pairwise_f1([True, False, True], [[True, True, False], [True, False], [False]])
    assert got == pytest.approx(want)


def test_none_when_a_class_is_never_predicted_or_never_labelled():
    assert healthbench_pairwise_f1([True, True], [[True], [False]]) is None
    assert healthbench_pairwise_f1([True, False], [[False], [False]]) is None


def test_equals_balanced_f1_of_the_pairwise_confusion_on_random_labels():
    rnd = random.Random(3)
    for _ in range(300):
        n = rnd.randint(1, 12)
        preds = [rnd.random() < 0.5 for _ in range(n)]
        others = [[rnd.random() < 0.5 for _ in range(rnd.randint(1, 4))] for _ in range(n)]
        ref = healthbench_pairwise_f1(preds, others)
        pairs = [(o, p) for p, os in zip(preds, others) for o in os]
        ours = metrics_from_confusion(np.array(confusion_counts(pairs)))[0][3]
        if ref is not None:
            assert ours == pytest.approx(ref)


def test_meta_eval_jobs_ask_only_what_the_graders_labelled():
    s = Submission.model_validate(meta_eval_set())
    other = Submission.model_validate(meta_eval_set(submission_id="hbm-002"))
    jobs, extra, labels = meta_eval_jobs([s, other])
    mine = [j for j in jobs if j.key[0] == "hbm-001"]
    assert {j.mode for j in mine} == {"shotjudge", "zeroshot"}
    assert all(j.answer == "Give him some water and let him rest." for j in mine)
    assert labels[("hbm-001", "c1", "r1")] == [("phys-1", True), ("phys-2", False)]
    assert labels[("hbm-001", "c1", "r0")] == [("phys-3", False)]
    shot = next(j for j in mine if j.mode == "shotjudge")
    assert shot.example.same_task_as == "hbm-002"  # never its own labels


def test_graded_example_uses_the_majority_and_leaves_ties_out():
    ex = graded_example(Submission.model_validate(meta_eval_set()))
    assert [(v.checkpoint_id, v.verdict) for v in ex.anchor.verdicts] == [("r0", "not_met")]  # r1 is 1-1


def test_each_label_is_one_pair_in_the_summary():
    rows = []
    for task in range(6):
        for cp in range(4):
            truth = (task + cp) % 2 == 0
            judge = truth if cp else not truth
            for g in range(3):
                rows.append({"judge_mode": "zeroshot", "domain": "Healthcare", "benchmark": "hb", "task_id": f"t{task}",
                             "completion_id": "c", "checkpoint_id": f"k{cp}", "expert_met": truth if g else not truth,
                             "met": judge})
    out = summary_table(pd.DataFrame(rows), 200, 0, "cfg").set_index("scope").loc["Overall"]
    assert out["n_labels"] == 72 and out["n_checkpoints"] == 24
    pairs = [(r["expert_met"], r["met"]) for r in rows]
    assert out["agreement"] == pytest.approx(sum(e == j for e, j in pairs) / len(pairs))
    assert out["healthbench_f1"] == pytest.approx(out["balanced_f1"])


def test_graders_vs_graders_pairs():
    labels = {("s", "c", "k"): [("a", True), ("b", True), ("c", False)]}
    pairs = physician_pairs(labels)
    assert len(pairs) == 6 and sum(1 for *_, other, mine in pairs if other == mine) == 2
