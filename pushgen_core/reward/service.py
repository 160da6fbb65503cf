"""Reward-model tasks shared by the CLI and the Reward model page.

Everything here takes ``Settings`` and plain values and returns plain results, so the
page and the CLI stay thin.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pushgen_core.errors import PushGenError
from pushgen_core.reward.ab_import import AbColumns, AbImport, AbStore, read_ab_csv
from pushgen_core.reward.embedding_cache import EmbeddingCache
from pushgen_core.reward.encoders import MINILM, get_encoder
from pushgen_core.reward.evaluate import (
    Report,
    evaluate_margins,
    is_test_group,
    near_duplicate_mask,
    split_pairs,
)
from pushgen_core.reward.model import RewardModel
from pushgen_core.reward.pairs import Pair, PairStats, ab_pairs, label_pairs
from pushgen_core.reward.registry import (
    PRIOR,
    PRIOR_PATH,
    Registry,
    load_active_reward_model,
    load_prior,
)
from pushgen_core.reward.train import (
    TrainConfig,
    TrainingDataError,
    TrainResult,
    train_reward_model,
)

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]
DEFAULT_COLUMNS = AbColumns()


def import_ab_file(
    settings, source, columns: AbColumns = DEFAULT_COLUMNS, name: str = ""
) -> tuple[AbImport, bool, PairStats]:
    """Validate the whole file, then store it; returns (import, is_new, pair stats)."""
    rows, facts = read_ab_csv(source, columns, name)
    _, stats = ab_pairs(rows)
    record, is_new = AbStore(settings.data_dir).add(rows, facts)
    return record, is_new, stats


def load_label_records(settings) -> list:
    """Editors' labels from the label store (empty when there is no store yet)."""
    url = settings.resolved_database_url
    if (
        url.startswith("sqlite:///")
        and not Path(url.removeprefix("sqlite:///")).exists()
    ):
        return []
    from pushgen_core.store import LabelStore

    return LabelStore(url).list_labels()


def collect_pairs(
    settings,
    ab_file=None,
    columns: AbColumns = DEFAULT_COLUMNS,
    use_ab: bool = True,
    use_labels: bool = True,
) -> tuple[list[Pair], dict[str, PairStats]]:
    pairs: list[Pair] = []
    stats: dict[str, PairStats] = {}
    if use_ab:
        if ab_file is not None:
            rows, _ = read_ab_csv(ab_file, columns)
        else:
            rows = AbStore(settings.data_dir).load()
        if len(rows):
            found, stats["ab"] = ab_pairs(rows)
            pairs += found
    if use_labels:
        labels = load_label_records(settings)
        if labels:
            found, stats["labels"] = label_pairs(labels)
            pairs += found
    return pairs, stats


def next_version_name(settings) -> str:
    count = len(Registry(settings.reward_dir).list_versions())
    return f"v{count + 1}-{datetime.now(UTC):%Y%m%dT%H%M%S}"


def train_and_save(
    settings,
    ab_file=None,
    columns: AbColumns = DEFAULT_COLUMNS,
    use_labels: bool = True,
    use_ab: bool = True,
    ab_weight: float = 1.0,
    label_weight: float = 1.0,
    encoder: str | None = None,
    version: str | None = None,
    prior: bool = False,
    promote: bool = False,
    config: TrainConfig | None = None,
    head_only: bool = False,
    refresh: bool = False,
    on_progress: ProgressCallback | None = None,
    log: Callable[[str], None] = logger.info,
) -> tuple[TrainResult, Path]:
    """Train a version on the stored imports (or ``ab_file``) and labels, save it.

    ``refresh`` keeps the active version's fine-tuned encoder and fits a new head on
    its cached features: seconds once the texts are cached.
    """
    config = config or TrainConfig()
    config = replace(config, ab_weight=ab_weight, label_weight=label_weight)
    if encoder:
        config = replace(config, encoder=encoder, layers=get_encoder(encoder).layers)
    if head_only or config.encoder != MINILM:
        config = replace(config, finetune_layers=0, use_surface=True)
    pairs, stats = collect_pairs(
        settings, ab_file, columns, use_ab, use_labels and not prior
    )
    if not pairs:
        raise TrainingDataError(
            "No training pairs: import A/B results with `python -m pushgen_core reward "
            "import-ab FILE.csv` (or pass --ab FILE.csv), or label candidates on the "
            "Labels page."
        )
    for source, stat in stats.items():
        log(
            f"{source}: {stat.pairs} pairs ({stat.significant} significant) from "
            f"{stat.groups} groups; skipped {stat.ties} ties, {stat.zero_impressions} "
            f"zero-impression variants, {stat.same_text} same-text pairs"
        )
    if prior:
        version = version or f"prior-{datetime.now(UTC):%Y-%m-%d}"
    else:
        version = version or next_version_name(settings)
    base = None
    if refresh:
        if prior:
            raise TrainingDataError("--refresh and --prior cannot be combined.")
        base, warning = load_active_reward_model(settings)
        if warning:
            raise TrainingDataError(f"Cannot refresh: {warning}")
        log(f"Refreshing the head of {base.version} (its encoder stays as it is)")
    result = train_reward_model(
        pairs,
        settings.embedding_cache_dir,
        config,
        version,
        on_progress,
        stats,
        base=base,
    )
    if prior:
        result.model.save(PRIOR_PATH)
        (PRIOR_PATH.parent / "metrics.json").write_text(
            json.dumps(result.model.describe(), indent=2), encoding="utf-8"
        )
        return result, PRIOR_PATH
    registry = Registry(settings.reward_dir)
    path = registry.save(result.model)
    if promote:
        registry.promote(result.model.version)
    return result, path


def load_version(
    settings, version: str | None = None
) -> tuple[RewardModel, str | None]:
    """A given version (``prior`` for the shipped one), or the active one."""
    if version is None:
        return load_active_reward_model(settings)
    if version == PRIOR:
        return load_prior(), None
    return RewardModel.load(Registry(settings.reward_dir).model_path(version)), None


def score_cached(
    settings, model: RewardModel, texts: list[str], on_progress=None
) -> np.ndarray:
    """``model.score`` for many texts, through the on-disk embedding cache."""
    if model.tuned_k:  # tuned layers: no cached pooled features to reuse
        scores = []
        for start in range(0, len(texts), 512):
            scores.append(model.score(texts[start : start + 512]))
            if on_progress is not None:
                done = min(start + 512, len(texts))
                on_progress(done / len(texts), f"Scored {done}/{len(texts)} texts")
        return np.concatenate(scores) if scores else np.zeros(0)
    cache = EmbeddingCache(
        settings.embedding_cache_dir, get_encoder(model.encoder, model.layers)
    )
    encoded = cache.get(texts, on_progress)
    return model.head(model.features_from_encoded(encoded, texts))


def _margins(settings, model, pairs: list[Pair], on_progress=None) -> np.ndarray:
    texts = sorted({p.chosen for p in pairs} | {p.rejected for p in pairs})
    scores = dict(
        zip(texts, score_cached(settings, model, texts, on_progress), strict=True)
    )
    return np.array([scores[p.chosen] - scores[p.rejected] for p in pairs])


def _split_args(model: RewardModel) -> tuple[int, float]:
    config = model.meta.get("config", {})
    defaults = TrainConfig()
    return config.get("split_seed", defaults.split_seed), config.get(
        "test_fraction", defaults.test_fraction
    )


def evaluate_held_out(
    settings, model: RewardModel, on_progress=None
) -> tuple[Report, dict]:
    """The model on the held-out groups of the stored imports and labels."""
    pairs, _ = collect_pairs(settings)
    seed, fraction = _split_args(model)
    train, test = split_pairs(pairs, seed, fraction)
    if not test:
        raise TrainingDataError(
            "No held-out pairs to evaluate on: import A/B results with `python -m "
            "pushgen_core reward import-ab FILE.csv`, or pass --ab FILE.csv."
        )
    duplicate = near_duplicate_mask(
        test, [t for p in train for t in (p.chosen, p.rejected)]
    )
    report = evaluate_margins(
        test, _margins(settings, model, test, on_progress), duplicate
    )
    counts = {
        "train_pairs": len(train),
        "train_groups": len({p.group for p in train}),
        "test_pairs": len(test),
        "test_groups": len({p.group for p in test}),
    }
    return report, counts


def evaluate_file(
    settings,
    model: RewardModel,
    source,
    columns: AbColumns = DEFAULT_COLUMNS,
    on_progress=None,
) -> dict[str, Report]:
    """The model on every pair of an A/B file, and on its held-out experiments only.

    Near-duplicates are judged against the training side of the split (of this file
    and the stored imports), which is what the model may have seen.
    """
    rows, facts = read_ab_csv(source, columns)
    pairs, _ = ab_pairs(rows)
    if not pairs:
        raise TrainingDataError(
            f"{facts['source_name']} yields no comparable pairs (every experiment has a "
            "single variant, ties or zero impressions); check --experiment-col and "
            "--match-col."
        )
    seed, fraction = _split_args(model)
    stored, _ = collect_pairs(settings, use_labels=False)
    seen = [
        t
        for p in stored + pairs
        if not is_test_group(f"{p.source}:{p.group}", seed, fraction)
        for t in (p.chosen, p.rejected)
    ]
    margins = _margins(settings, model, pairs, on_progress)
    duplicate = near_duplicate_mask(pairs, seen)
    held_out = np.array(
        [is_test_group(f"{p.source}:{p.group}", seed, fraction) for p in pairs]
    )
    name = facts["source_name"]
    reports = {
        f"all pairs of {name} (includes any experiments the model trained on)": (
            evaluate_margins(pairs, margins, duplicate)
        )
    }
    if held_out.any():
        test = [p for p, keep in zip(pairs, held_out, strict=True) if keep]
        reports[f"held-out experiments of {name} (the split used in training)"] = (
            evaluate_margins(test, margins[held_out], duplicate[held_out])
        )
    return reports


def versions_table(settings) -> pd.DataFrame:
    """One row per saved version (and the prior) with its key figures, side by side."""
    rows = []
    metas = Registry(settings.reward_dir).list_versions()
    try:
        prior_meta = {
            **load_prior().meta,
            "version": load_prior().version,
            "active": False,
        }
        prior_meta["readable"] = True
        prior_meta["is_prior"] = True
        metas.append(prior_meta)
    except PushGenError:
        pass
    active = Registry(settings.reward_dir).active
    for meta in metas:
        held_out = meta.get("metrics", {}).get("held_out", {})
        counts = meta.get("counts", {})

        def accuracy(subset, held_out=held_out):
            return held_out.get(subset, {}).get("accuracy", float("nan"))

        rows.append(
            {
                "version": meta["version"],
                "kind": "prior" if meta.get("is_prior") else "trained",
                "active": meta["active"]
                or (meta.get("is_prior", False) and not active),
                "encoder": meta.get("encoder")
                or meta.get("config", {}).get("encoder", ""),
                "created_at": meta.get("created_at", ""),
                "train_pairs": counts.get("train_pairs"),
                "label_pairs": counts.get("label_pairs"),
                "acc_all": accuracy("all"),
                "acc_significant": accuracy("significant"),
                "acc_sig_no_dup": accuracy("significant, no near-duplicates"),
                "file_ok": meta.get("readable", True),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "version",
            "kind",
            "active",
            "encoder",
            "created_at",
            "train_pairs",
            "label_pairs",
            "acc_all",
            "acc_significant",
            "acc_sig_no_dup",
            "file_ok",
        ],
    )
