"""Honest evaluation of a reward model on preference pairs.

Pairs are split by group (experiment id or brief id), never by row, with a seeded hash
of the group id: a group always lands on the same side whatever else is in the data,
so a model trained on one import can be evaluated on a later one without leakage of
the experiments it saw. The archive repeats stories under new experiment ids, so every
report is also given without held-out pairs whose headline nearly duplicates a training
headline (Jaccard similarity of word sets >= 0.6).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pushgen_core.reward.pairs import SIGNIFICANT_Z, Pair
from pushgen_core.text import words

TEST_FRACTION = 0.2
SPLIT_SEED = 20261204
NEAR_DUPLICATE_JACCARD = 0.6


def is_test_group(group: str, seed: int = SPLIT_SEED, fraction: float = TEST_FRACTION):
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_pairs(
    pairs: list[Pair], seed: int = SPLIT_SEED, fraction: float = TEST_FRACTION
) -> tuple[list[Pair], list[Pair]]:
    """(train, test) with every group entirely on one side."""
    train, test = [], []
    for pair in pairs:
        (
            test
            if is_test_group(f"{pair.source}:{pair.group}", seed, fraction)
            else train
        ).append(pair)
    return train, test


def near_duplicate_mask(
    test_pairs: list[Pair],
    train_texts: Iterable[str],
    threshold: float = NEAR_DUPLICATE_JACCARD,
) -> np.ndarray:
    """True for test pairs where either text nearly duplicates a training text."""
    train_sets = list({frozenset(words(t)) for t in train_texts})
    postings: dict[str, list[int]] = defaultdict(list)
    for i, word_set in enumerate(train_sets):
        for word in word_set:
            postings[word].append(i)

    cache: dict[str, bool] = {}

    def duplicated(text: str) -> bool:
        if text in cache:
            return cache[text]
        word_set = frozenset(words(text))
        shared: dict[int, int] = defaultdict(int)
        for word in word_set:
            for i in postings.get(word, ()):
                shared[i] += 1
        found = False
        for i, common in shared.items():
            union = len(word_set) + len(train_sets[i]) - common
            if union and common / union >= threshold:
                found = True
                break
        cache[text] = found
        return found

    return np.array(
        [duplicated(p.chosen) or duplicated(p.rejected) for p in test_pairs], dtype=bool
    )


def pairwise_accuracy(margins: np.ndarray) -> float:
    """Share of pairs where chosen scores above rejected (a tie counts half)."""
    margins = np.asarray(margins, dtype=np.float64)
    if margins.size == 0:
        return math.nan
    return float(((margins > 0) + 0.5 * (margins == 0)).mean())


def roc_auc(margins: np.ndarray) -> float:
    """ROC AUC of P(first wins) over pairs taken in both orders."""
    margins = np.asarray(margins, dtype=np.float64)
    if margins.size == 0:
        return math.nan
    values = np.concatenate([margins, -margins])
    labels = np.concatenate([np.ones_like(margins), np.zeros_like(margins)])
    ranks = pd.Series(values).rank(method="average").to_numpy()
    n_pos = n_neg = margins.size
    return float((ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibration_table(margins: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Predicted P(first wins) = sigmoid(margin) in bins vs the observed win rate.

    Each held-out pair is counted in both orders, so the table is symmetric
    around 0.5.
    """
    margins = np.asarray(margins, dtype=np.float64)
    values = np.concatenate([margins, -margins])
    won = np.concatenate([np.ones_like(margins), np.zeros_like(margins)])
    predicted = 1 / (1 + np.exp(-values))
    edges = np.linspace(0, 1, bins + 1)
    slot = np.clip(np.digitize(predicted, edges) - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = slot == b
        rows.append(
            {
                "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                "predicted": float(predicted[inside].mean())
                if inside.any()
                else math.nan,
                "observed": float(won[inside].mean()) if inside.any() else math.nan,
                "pairs": int(inside.sum()),
            }
        )
    return pd.DataFrame(rows)


@dataclass
class Report:
    """Accuracy and AUC on named subsets of held-out pairs, plus calibration."""

    subsets: pd.DataFrame  # subset, pairs, accuracy, auc
    calibration: pd.DataFrame
    per_category: pd.DataFrame

    def headline(self) -> dict:
        return {
            row.subset: {
                "pairs": int(row.pairs),
                "accuracy": row.accuracy,
                "auc": row.auc,
            }
            for row in self.subsets.itertuples()
        }


def evaluate_margins(
    test_pairs: list[Pair], margins: np.ndarray, duplicate: np.ndarray | None = None
) -> Report:
    """Report for held-out pairs given each pair's score margin (chosen - rejected)."""
    margins = np.asarray(margins, dtype=np.float64)
    significant = np.array([p.significant for p in test_pairs], dtype=bool)
    ab = np.array([p.source == "ab" for p in test_pairs], dtype=bool)
    if duplicate is None:
        duplicate = np.zeros(len(test_pairs), dtype=bool)
    subsets = {
        "all": np.ones(len(test_pairs), dtype=bool),
        "significant": significant,
        "all, no near-duplicates": ~duplicate,
        "significant, no near-duplicates": significant & ~duplicate,
    }
    if ab.any() and not ab.all():
        subsets["A/B significant"] = ab & significant
        subsets["labels"] = ~ab
    rows = [
        {
            "subset": name,
            "pairs": int(mask.sum()),
            "accuracy": pairwise_accuracy(margins[mask]),
            "auc": roc_auc(margins[mask]),
        }
        for name, mask in subsets.items()
    ]
    categories = sorted({p.category for p in test_pairs if p.category})
    per_category = pd.DataFrame(
        [
            {
                "category": category,
                "pairs": int(mask.sum()),
                "accuracy": pairwise_accuracy(margins[mask]),
            }
            for category in categories
            for mask in [np.array([p.category == category for p in test_pairs])]
        ],
        columns=["category", "pairs", "accuracy"],
    )
    return Report(
        pd.DataFrame(rows, columns=["subset", "pairs", "accuracy", "auc"]),
        calibration_table(margins),
        per_category,
    )


__all__ = [
    "SIGNIFICANT_Z",
    "evaluate_margins",
    "near_duplicate_mask",
    "pairwise_accuracy",
    "roc_auc",
    "split_pairs",
]
