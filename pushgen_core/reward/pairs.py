"""Preference pairs (chosen beats rejected) from A/B results and editors' labels.

A/B pairs are formed only between variants of one experiment that share the match key
(Upworthy: the same image). Each carries the two-proportion z statistic of its outcome,
so training can weight a pair by how sure it is. Label pairs come from one brief: an
accepted or edited candidate beats a rejected one, and an editor's text beats the
model text it replaced.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from pushgen_core.text import normalize, reward_text

SIGNIFICANT_Z = 1.96


@dataclass(frozen=True)
class Pair:
    """``chosen`` was preferred over ``rejected``.

    group: the experiment id (A/B) or brief id (labels); evaluation splits by group.
    z: two-proportion z statistic of an A/B outcome (>= 0), ``None`` for labels.
    """

    chosen: str
    rejected: str
    source: str
    group: str
    z: float | None = None
    category: str = ""

    @property
    def significant(self) -> bool:
        return self.z is None or self.z > SIGNIFICANT_Z


@dataclass
class PairStats:
    """What pair building kept and skipped, for the CLI and the page."""

    variants: int = 0
    groups: int = 0
    pairs: int = 0
    significant: int = 0
    ties: int = 0
    zero_impressions: int = 0
    same_text: int = 0
    extra: dict = field(default_factory=dict)


def two_proportion_z(clicks_a: int, shown_a: int, clicks_b: int, shown_b: int) -> float:
    """z statistic of click-through rate a minus b under a pooled-variance test."""
    pooled = (clicks_a + clicks_b) / (shown_a + shown_b)
    variance = pooled * (1 - pooled) * (1 / shown_a + 1 / shown_b)
    if variance <= 0:
        return 0.0
    return (clicks_a / shown_a - clicks_b / shown_b) / math.sqrt(variance)


def ab_pairs(rows: pd.DataFrame) -> tuple[list[Pair], PairStats]:
    """Pairs within each (experiment, match key) from canonical A/B rows.

    Skipped and counted: pairs with a zero-impression variant, ties (equal
    click-through) and pairs whose texts are the same after normalisation.
    """
    stats = PairStats(variants=len(rows))
    stats.zero_impressions = int((rows["impressions"] == 0).sum())
    pairs: list[Pair] = []
    for (experiment, _match), group in rows.groupby(
        ["experiment_id", "match_key"], sort=False
    ):
        stats.groups += 1
        variants = list(
            zip(
                group["text"],
                group["text"].map(normalize),
                group["impressions"],
                group["clicks"],
                strict=True,
            )
        )
        for a, b in itertools.combinations(variants, 2):
            if a[2] == 0 or b[2] == 0:
                continue
            if a[1] == b[1]:
                stats.same_text += 1
                continue
            if a[3] * b[2] == b[3] * a[2]:
                stats.ties += 1
                continue
            z = two_proportion_z(a[3], a[2], b[3], b[2])
            chosen, rejected = (a, b) if z > 0 else (b, a)
            pairs.append(Pair(chosen[0], rejected[0], "ab", str(experiment), abs(z)))
    stats.pairs = len(pairs)
    stats.significant = sum(p.z > SIGNIFICANT_Z for p in pairs)
    return pairs, stats


class LabelRecord(Protocol):
    """The attributes pair building reads from a label (the store's Label rows)."""

    brief_id: str
    candidate_id: str
    decision: str
    title: str
    body: str
    original_title: str | None
    original_body: str | None
    category: str
    style: str
    reviewer: str


def label_pairs(labels: Iterable[LabelRecord]) -> tuple[list[Pair], PairStats]:
    """Pairs from editors' decisions, grouped by brief."""
    stats = PairStats()
    by_brief: dict[str, list[LabelRecord]] = {}
    for label in labels:
        stats.variants += 1
        by_brief.setdefault(str(label.brief_id), []).append(label)
    pairs: list[Pair] = []
    edits = 0
    for brief_id, brief_labels in by_brief.items():
        stats.groups += 1
        winners = [lb for lb in brief_labels if lb.decision in ("accepted", "edited")]
        losers = [lb for lb in brief_labels if lb.decision == "rejected"]
        for winner, loser in itertools.product(winners, losers):
            chosen = reward_text(winner.title, winner.body)
            rejected = reward_text(loser.title, loser.body)
            if normalize(chosen) == normalize(rejected):
                stats.same_text += 1
                continue
            pairs.append(
                Pair(
                    chosen, rejected, "label", brief_id, category=winner.category or ""
                )
            )
        for label in brief_labels:
            if label.decision != "edited" or label.original_title is None:
                continue
            edited = reward_text(label.title, label.body)
            original = reward_text(label.original_title, label.original_body or "")
            if normalize(edited) == normalize(original):
                stats.same_text += 1
                continue
            edits += 1
            pairs.append(
                Pair(edited, original, "label", brief_id, category=label.category or "")
            )
    stats.pairs = len(pairs)
    stats.significant = len(pairs)
    stats.extra["edit_pairs"] = edits
    return pairs, stats
