"""Training on small synthetic data with the hashing encoder (no model files)."""

from __future__ import annotations

import os
import random
from dataclasses import replace

import numpy as np
import pytest

from pushgen_core.reward.embedding_cache import EmbeddingCache
from pushgen_core.reward.encoders import HashingEncoder
from pushgen_core.reward.pairs import Pair
from pushgen_core.reward.train import TrainConfig, TrainingDataError, train_reward_model
from tests.conftest import ab_data_path

TINY = TrainConfig(
    encoder="hashing", layers=(0,), use_surface=False, epochs=150, learning_curve=()
)
NOUNS = "dog cat bird city river school garden train bridge market".split()
VERBS = "saves finds builds opens visits paints crosses cleans".split()


def planted_pairs(n_groups: int = 150, seed: int = 0) -> list[Pair]:
    """Texts containing 'amazing' win; everything else is noise."""
    rng = random.Random(seed)
    pairs = []
    for g in range(n_groups):
        base = f"{rng.choice(NOUNS)} {rng.choice(VERBS)} {rng.choice(NOUNS)}"
        other = f"{rng.choice(NOUNS)} {rng.choice(VERBS)} {rng.choice(NOUNS)}"
        pairs.append(Pair(f"amazing {base}", other, "ab", f"e{g}", z=3.0))
        pairs.append(Pair(f"{other} amazing", base, "ab", f"e{g}", z=1.0))
    return pairs


class CountingEncoder(HashingEncoder):
    def __init__(self):
        super().__init__(dim=16)
        self.encoded = 0

    def encode(self, texts, on_progress=None):
        self.encoded += len(texts)
        return super().encode(texts, on_progress)


class TestTraining:
    def test_learns_a_planted_signal(self, tmp_path):
        progress = []
        result = train_reward_model(
            planted_pairs(),
            tmp_path,
            TINY,
            "v-test",
            on_progress=lambda f, m: progress.append(f),
        )
        held_out = result.report.headline()
        assert held_out["all"]["accuracy"] > 0.9
        assert held_out["all"]["auc"] > 0.9
        scores = result.model.score(
            ["amazing river opens garden", "river opens garden"]
        )
        assert scores[0] > scores[1]
        assert progress[-1] == 1.0 and all(0 <= f <= 1 for f in progress)
        assert result.counts["train_pairs"] + result.counts["test_pairs"] == 300

    def test_shuffled_labels_learn_nothing(self, tmp_path):
        pairs = planted_pairs()
        rng = random.Random(1)
        shuffled = [
            p
            if rng.random() < 0.5
            else Pair(p.rejected, p.chosen, p.source, p.group, p.z)
            for p in pairs
        ]
        result = train_reward_model(shuffled, tmp_path, TINY)
        assert abs(result.report.headline()["all"]["accuracy"] - 0.5) < 0.2

    def test_learning_curve_and_members(self, tmp_path):
        config = TrainConfig(
            encoder="hashing",
            layers=(0,),
            hidden=8,
            members=2,
            epochs=60,
            learning_curve=(0.5,),
        )
        result = train_reward_model(planted_pairs(), tmp_path, config)
        assert [point["fraction"] for point in result.learning_curve] == [0.5, 1.0]
        assert len(result.model.members) == 2
        assert result.model.score(["amazing dog"]).shape == (1,)

    def test_too_few_pairs(self, tmp_path):
        with pytest.raises(TrainingDataError, match="Only 0 training"):
            train_reward_model([], tmp_path, TINY)


class TestEmbeddingCache:
    def test_second_lookup_encodes_only_new_texts(self, tmp_path):
        encoder = CountingEncoder()
        first = EmbeddingCache(tmp_path, encoder).get(["a b", "c d"])
        assert encoder.encoded == 2
        again = EmbeddingCache(tmp_path, encoder).get(["c d", "e f", "a b"])
        assert encoder.encoded == 3
        np.testing.assert_allclose(again[2], first[0], atol=1e-3)

    def test_unreadable_shard_is_ignored(self, tmp_path, caplog):
        encoder = CountingEncoder()
        cache = EmbeddingCache(tmp_path, encoder)
        cache.get(["a"])
        (cache.dir / "shard-broken.npz").write_bytes(b"not a zip")
        EmbeddingCache(tmp_path, encoder).get(["a"])
        assert encoder.encoded == 1
        assert "Ignoring unreadable embedding cache shard" in caplog.text


@pytest.mark.slow
def test_shipped_prior_on_held_out_upworthy_experiments(settings):
    """The prior's held-out accuracy on the real file (only that part of it)."""
    path = ab_data_path()
    if not path.exists():
        pytest.skip(
            f"The Upworthy A/B file is not at {path}; set PUSHGEN_AB_DATA to its path "
            "to run this test."
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from pushgen_core.reward.registry import load_prior
    from pushgen_core.reward.service import evaluate_file

    reports = evaluate_file(settings, load_prior(), path)
    held_out = [r for title, r in reports.items() if title.startswith("held-out")][0]
    figures = held_out.headline()
    assert figures["significant"]["pairs"] > 500
    assert figures["significant"]["accuracy"] >= 0.72  # the quality target


def test_train_and_save_from_label_store(settings, fresh_store):
    from pushgen_core.reward.registry import Registry
    from pushgen_core.reward.service import train_and_save
    from pushgen_core.store import LabelInput

    rng = random.Random(3)
    for brief in range(120):
        common = dict(
            brief_id=f"brief-{brief}",
            body="",
            category=rng.choice(["sport", "news"]),
            style="curiosity",
            item_text="item",
            prompt="prompt",
            generator_model="fake",
            reward_version="prior",
            reviewer="ed",
        )
        topic = f"{rng.choice(NOUNS)} {rng.choice(VERBS)} {rng.choice(NOUNS)}"
        fresh_store.record(
            LabelInput(
                candidate_id=f"c{brief}a",
                decision="accepted",
                title=f"amazing {topic}",
                **common,
            )
        )
        fresh_store.record(
            LabelInput(
                candidate_id=f"c{brief}r",
                decision="rejected",
                title=f"{rng.choice(NOUNS)} {rng.choice(VERBS)} {topic}",
                **common,
            )
        )
    result, path = train_and_save(settings, config=TINY, label_weight=2.0, promote=True)
    assert path.exists()
    assert result.counts["label_pairs"] == 120 and result.counts["ab_pairs"] == 0
    figures = result.report.headline()
    assert figures["all"]["accuracy"] > 0.85
    assert set(result.report.per_category["category"]) == {"sport", "news"}
    assert Registry(settings.reward_dir).active == result.model.version
    assert result.model.meta["config"]["label_weight"] == 2.0


TUNED_TINY = TrainConfig(
    encoder="tiny-bert",
    layers=(3,),
    finetune_layers=1,
    finetune_epochs=4,
    finetune_learning_rate=1e-3,
    learning_curve=(0.5,),
)


@pytest.fixture
def tiny_bert(tmp_path, monkeypatch):
    """A 3-layer random BERT with a word-level vocabulary, registered as an encoder."""
    from transformers import BertConfig, BertModel, BertTokenizer

    import pushgen_core.reward.encoders as encoders

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "amazing", *NOUNS, *VERBS]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab))
    tokenizer = BertTokenizer(str(tmp_path / "vocab.txt"))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    import torch

    torch.manual_seed(0)
    model = BertModel(config).eval()
    encoder = encoders.TransformerEncoder(
        "tiny-bert", "test", lambda: (model, tokenizer), (3,), 32, finetunable=True
    )
    monkeypatch.setitem(encoders._ENCODERS, ("tiny-bert", (3,)), encoder)
    return encoder


def test_fine_tuning_top_layers_learns_and_round_trips(tmp_path, tiny_bert):
    from pushgen_core.reward.model import RewardModel

    result = train_reward_model(planted_pairs(), tmp_path, TUNED_TINY, "v-tuned")
    assert result.report.headline()["all"]["accuracy"] > 0.8
    assert [p["fraction"] for p in result.learning_curve] == [0.5, 1.0]
    result.model.save(tmp_path / "tuned.npz")
    loaded = RewardModel.load(tmp_path / "tuned.npz")
    assert loaded.tuned_k == 1
    texts = ["amazing dog saves cat", "dog saves cat"]
    np.testing.assert_allclose(
        loaded.score(texts), result.model.score(texts), atol=0.05
    )
    assert loaded.score(texts)[0] > loaded.score(texts)[1]
    embeddings = loaded.embed(texts)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_refresh_keeps_the_tuned_encoder_and_caches_its_features(tmp_path, tiny_bert):
    from pushgen_core.reward.train import TrainingDataError

    config = replace(TUNED_TINY, learning_curve=())
    base = train_reward_model(planted_pairs(), tmp_path, config, "v-base").model
    calls = []
    original = base._encode_missing

    def counting(texts):
        calls.append(len(texts))
        return original(texts)

    base._encode_missing = counting
    first = train_reward_model(
        planted_pairs(seed=1), tmp_path / "cache", config, "v-refresh", base=base
    )
    assert first.report.headline()["all"]["accuracy"] > 0.8
    assert first.model.tuned_k == 1 and first.model.meta["refreshed_from"] == "v-base"
    assert all(
        np.array_equal(first.model.tuned_state[k], base.tuned_state[k])
        for k in base.tuned_state
    )
    encoded_once = sum(calls)
    assert encoded_once > 0
    train_reward_model(
        planted_pairs(seed=1), tmp_path / "cache", config, "v-again", base=base
    )
    assert sum(calls) == encoded_once  # every feature came from the disk cache

    with pytest.raises(TrainingDataError, match="trained on another split"):
        train_reward_model(
            planted_pairs(seed=1),
            tmp_path / "cache",
            replace(config, split_seed=7),
            "v-x",
            base=base,
        )
    head_only = train_reward_model(
        planted_pairs(), tmp_path, replace(config, finetune_layers=0), "v-head"
    ).model
    with pytest.raises(TrainingDataError, match="has no fine-tuned encoder"):
        train_reward_model(planted_pairs(), tmp_path, config, "v-y", base=head_only)


def test_cache_finds_digests_that_end_in_a_zero_byte(tmp_path, monkeypatch):
    import pushgen_core.reward.embedding_cache as embedding_cache

    monkeypatch.setattr(
        embedding_cache, "_digest", lambda text: text.encode().ljust(20, b"\0")
    )
    encoder = CountingEncoder()
    embedding_cache.EmbeddingCache(tmp_path, encoder).get(["ab", "cd"])
    embedding_cache.EmbeddingCache(tmp_path, encoder).get(["ab", "cd"])
    assert encoder.encoded == 2


def test_warm_start_head_gives_the_base_scores_under_a_new_standardisation():
    from pushgen_core.reward.model import RewardModel
    from pushgen_core.reward.train import _head_in

    rng = np.random.default_rng(0)
    dim = 6
    base = RewardModel(
        "base",
        "x",
        (0,),
        False,
        rng.normal(size=dim),
        rng.uniform(0.5, 2, size=dim),
        [[(rng.normal(size=(dim, 1)), rng.normal(size=1))]],
    )
    raw = rng.normal(size=(5, dim))
    mean, scale = raw.mean(0), raw.std(0) + 0.1
    weight, bias = _head_in(base, mean, scale)
    base_scores = base.head((raw - base.mean) / base.scale)
    np.testing.assert_allclose(
        ((raw - mean) / scale) @ weight[:, 0] + bias[0], base_scores, rtol=1e-4
    )
