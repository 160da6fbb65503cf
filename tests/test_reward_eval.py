"""Evaluation: group splits, near-duplicates, metrics, calibration."""

from __future__ import annotations

import numpy as np
import pytest

from pushgen_core.reward.evaluate import (
    calibration_table,
    evaluate_margins,
    near_duplicate_mask,
    pairwise_accuracy,
    roc_auc,
    split_pairs,
)
from pushgen_core.reward.pairs import Pair


def many_pairs(n_groups=200, per_group=3):
    return [
        Pair(f"win {g} {i}", f"lose {g} {i}", "ab", f"exp{g}", z=2.5 if i else 0.5)
        for g in range(n_groups)
        for i in range(per_group)
    ]


def test_split_keeps_every_experiment_on_one_side():
    train, test = split_pairs(many_pairs())
    train_groups, test_groups = {p.group for p in train}, {p.group for p in test}
    assert not train_groups & test_groups
    assert 0.1 < len(test_groups) / 200 < 0.3


def test_split_is_fixed_and_independent_of_other_rows():
    _, test = split_pairs(many_pairs())
    _, test_subset = split_pairs(many_pairs()[:90])
    assert {p.group for p in test_subset} <= {p.group for p in test}
    _, other_seed = split_pairs(many_pairs(), seed=7)
    assert {p.group for p in other_seed} != {p.group for p in test}


def test_near_duplicates_by_word_overlap():
    test = [
        Pair("This Dog Saved A Boy From The Lake", "Unrelated words here", "ab", "t1"),
        Pair("Completely new headline about taxes", "Another fresh one", "ab", "t2"),
    ]
    train_texts = ["this dog saved a boy from the river", "Something else"]
    # 6 shared words of 8 in the union: Jaccard 0.75
    assert near_duplicate_mask(test, train_texts).tolist() == [True, False]
    assert near_duplicate_mask(test, train_texts, threshold=0.8).tolist() == [
        False,
        False,
    ]


def test_accuracy_and_auc():
    assert pairwise_accuracy(np.array([1.0, -1.0, 0.0, 2.0])) == pytest.approx(0.625)
    assert roc_auc(np.array([1.0, 2.0, 3.0])) == 1.0
    assert roc_auc(np.array([-1.0, -2.0])) == 0.0
    assert roc_auc(np.array([1.0, -1.0])) == pytest.approx(0.5)


def test_calibration_is_symmetric_and_counts_pairs_twice():
    table = calibration_table(np.array([3.0, 3.0, -0.2, 0.1]), bins=10)
    assert table["pairs"].sum() == 8
    top = table.iloc[-1]
    assert top["pairs"] == 2 and top["observed"] == 1.0


def test_report_subsets_remove_duplicates_and_split_categories():
    pairs = [
        Pair("a", "b", "ab", "e1", z=3.0),
        Pair("c", "d", "ab", "e2", z=0.5),
        Pair("e", "f", "label", "b1", category="sport"),
        Pair("g", "h", "label", "b2", category="news"),
    ]
    margins = np.array([1.0, -1.0, 1.0, -1.0])
    duplicate = np.array([False, False, True, False])
    report = evaluate_margins(pairs, margins, duplicate)
    figures = report.headline()
    assert figures["all"]["accuracy"] == 0.5
    assert figures["significant"]["pairs"] == 3
    assert figures["significant, no near-duplicates"] == {
        "pairs": 2,
        "accuracy": 0.5,
        "auc": 0.5,
    }
    assert figures["A/B significant"]["accuracy"] == 1.0
    assert report.per_category.set_index("category")["accuracy"].to_dict() == {
        "news": 0.0,
        "sport": 1.0,
    }
