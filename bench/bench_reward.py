"""Benchmark the reward model: scoring 8 candidates (cold and warm) and training a head
on 15,000 cached pairs.

    .venv/bin/python bench/bench_reward.py [--pairs 15000] [--repeats 5]

Cold = a fresh process's first call (encoder load included); warm = later calls on new
texts. Training uses synthetic texts whose features (of the active model's input width)
are already in the embedding cache, so it times a head-only fit plus evaluation: what
`reward train --head-only` costs after a few new labels. Fine-tuning (the default
`reward train`) cannot reuse the cache; its time is printed by `reward train`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from pushgen_core.config import Settings  # noqa: E402

CANDIDATES = [
    "A retired teacher spent 30 years planting trees in her town",
    "She Planted A Tree Every Day For 30 Years. Look At Her Town Now!!!",
    "What happens when one person plants a tree every day?",
    "30 years, 11,000 trees: how one teacher changed her town",
    "You won't believe what this teacher did",
    "The town council thanked a teacher for planting trees",
    "One teacher, one shovel, one greener town",
    "Her neighbours laughed at first. Then the shade arrived.",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from pushgen_core.reward import load_active_reward_model

    # Scoring
    started = time.perf_counter()
    model, warning = load_active_reward_model(Settings.from_env())
    loaded = time.perf_counter() - started
    if warning:
        print(f"warning: {warning}")
    started = time.perf_counter()
    model.score(CANDIDATES)
    cold = time.perf_counter() - started
    warm = []
    for repeat in range(args.repeats):
        fresh = [f"{text} ({repeat})" for text in CANDIDATES]
        started = time.perf_counter()
        model.score(fresh)
        warm.append(time.perf_counter() - started)
    print(f"reward model {model.version} ({model.encoder})")
    print(f"load model file:             {loaded * 1000:8.1f} ms")
    print(f"score 8 candidates, cold:    {cold * 1000:8.1f} ms (encoder load included)")
    print(
        f"score 8 candidates, warm:    {statistics.median(warm) * 1000:8.1f} ms (median)"
    )

    # Training on cached embeddings
    from pushgen_core.reward.embedding_cache import EmbeddingCache
    from pushgen_core.reward.encoders import HashingEncoder
    from pushgen_core.reward.pairs import Pair
    from pushgen_core.reward.train import TrainConfig, train_reward_model

    config_meta = model.meta.get("config", {})
    config = TrainConfig(
        encoder="hashing",
        layers=(0,),
        use_surface=False,
        hidden=config_meta.get("hidden", 0),
        members=config_meta.get("members", 1),
        epochs=config_meta.get("epochs", 200),
        learning_curve=(),
    )
    width = model.mean.shape[0]
    rng = np.random.default_rng(0)
    n_texts = int(args.pairs * 0.7)
    texts = [f"text {i}" for i in range(n_texts)]
    pairs = [
        Pair(texts[a], texts[b], "ab", f"e{i // 4}", z=float(rng.uniform(0, 4)))
        for i, (a, b) in enumerate(rng.integers(0, n_texts, (args.pairs, 2)))
        if a != b
    ]
    with tempfile.TemporaryDirectory() as root:
        encoder = HashingEncoder(dim=width)
        cache = EmbeddingCache(root, encoder)
        cache.get(texts)  # fill the embedding cache, untimed
        import pushgen_core.reward.encoders as encoders

        encoders._ENCODERS[("hashing", (0,))] = encoder  # the cache's width
        started = time.perf_counter()
        train_reward_model(pairs, root, config)
        trained = time.perf_counter() - started
    print(
        f"train on {len(pairs)} cached pairs:  {trained:8.1f} s "
        f"(head: {config.members} x {'linear' if not config.hidden else f'MLP {config.hidden}'}"
        f", {width} inputs, {config.epochs} epochs, evaluation included)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
