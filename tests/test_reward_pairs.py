"""Pair building from A/B rows and editors' labels."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

from pushgen_core.reward.pairs import ab_pairs, label_pairs, two_proportion_z


def rows(records):
    return pd.DataFrame(
        records, columns=["experiment_id", "match_key", "text", "impressions", "clicks"]
    )


def test_z_statistic_matches_hand_computation():
    # p1 = 0.2, p2 = 0.1, pooled 0.15, se = sqrt(.15 * .85 * (2 / 100))
    assert two_proportion_z(20, 100, 10, 100) == pytest.approx(
        0.1 / 0.0504975, rel=1e-4
    )
    assert two_proportion_z(0, 10, 0, 10) == 0.0


def test_pairs_only_within_experiment_and_match_key():
    pairs, stats = ab_pairs(
        rows(
            [
                ("e1", "img1", "A", 100, 20),
                ("e1", "img1", "B", 100, 10),
                ("e1", "img2", "C", 100, 50),  # other image: compared with nobody
                ("e2", "img1", "D", 100, 1),  # other experiment
            ]
        )
    )
    assert [(p.chosen, p.rejected, p.group) for p in pairs] == [("A", "B", "e1")]
    assert stats.groups == 3 and stats.pairs == 1
    assert pairs[0].z == pytest.approx(two_proportion_z(20, 100, 10, 100))


def test_ties_zero_impressions_and_same_text_are_skipped_and_counted():
    pairs, stats = ab_pairs(
        rows(
            [
                ("e1", "", "A", 100, 10),
                ("e1", "", "B", 200, 20),  # tie with A
                ("e1", "", "Zero", 0, 0),
                ("e1", "", "a ", 100, 30),  # same text as A after normalising
            ]
        )
    )
    assert stats.ties == 1
    assert stats.zero_impressions == 1
    assert stats.same_text == 1
    assert sorted((p.chosen, p.rejected) for p in pairs) == [("a ", "B")]
    assert stats.significant == sum(p.z > 1.96 for p in pairs)


def test_loser_is_rejected_whatever_the_row_order():
    pairs, _ = ab_pairs(rows([("e", "", "low", 100, 1), ("e", "", "high", 100, 9)]))
    assert (pairs[0].chosen, pairs[0].rejected) == ("high", "low")


@dataclass
class FakeLabel:
    brief_id: str
    candidate_id: str
    decision: str
    title: str
    body: str = ""
    original_title: str | None = None
    original_body: str | None = None
    category: str = "sport"
    style: str = "news"
    reviewer: str = "ed"


def test_label_pairs():
    labels = [
        FakeLabel("b1", "c1", "accepted", "Win", "now"),
        FakeLabel("b1", "c2", "rejected", "Lose"),
        FakeLabel("b1", "c3", "edited", "Edited", "text", "Model", "text"),
        FakeLabel("b2", "c4", "rejected", "Other brief"),
    ]
    pairs, stats = label_pairs(labels)
    found = {(p.chosen, p.rejected) for p in pairs}
    assert found == {
        ("Win\nnow", "Lose"),
        ("Edited\ntext", "Lose"),
        ("Edited\ntext", "Model\ntext"),
    }
    assert all(p.source == "label" and p.z is None and p.significant for p in pairs)
    assert {p.group for p in pairs} == {"b1"}
    assert stats.extra["edit_pairs"] == 1 and stats.groups == 2
    assert {p.category for p in pairs} == {"sport"}


def test_edit_that_changes_nothing_is_skipped():
    pairs, stats = label_pairs([FakeLabel("b", "c", "edited", "Same", "", "Same", "")])
    assert pairs == [] and stats.same_text == 1
