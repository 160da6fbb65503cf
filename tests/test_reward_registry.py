"""Versions: save, promote, rollback, and falling back to the shipped prior."""

from __future__ import annotations

import numpy as np
import pytest

from pushgen_core.reward import (
    load_active_reward_model,
    select_diverse,
    surface_features,
)
from pushgen_core.reward.model import RewardModel, RewardModelFileError
from pushgen_core.reward.registry import PRIOR_PATH, Registry, RegistryError, load_prior
from pushgen_core.reward.service import versions_table


def tiny_model(version: str, weight: float = 1.0) -> RewardModel:
    width = 64
    members = [[(np.full((width, 1), weight, np.float32), np.zeros(1, np.float32))]]
    meta = {"created_at": version, "metrics": {"held_out": {"all": {"accuracy": 0.6}}}}
    return RewardModel(
        version, "hashing", (0,), False, np.zeros(width), np.ones(width), members, meta
    )


def test_prior_is_shipped_small_and_loads():
    assert PRIOR_PATH.stat().st_size < 4_000_000  # a few MB: no A/B data inside
    prior = load_prior()
    assert prior.version.startswith("prior-")
    assert prior.encoder == "all-MiniLM-L6-v2"
    assert "held_out" in prior.metrics


def test_no_registry_means_prior_without_warning(settings):
    model, warning = load_active_reward_model(settings)
    assert model.version == load_prior().version and warning is None


def test_promote_and_rollback(settings):
    registry = Registry(settings.reward_dir)
    registry.save(tiny_model("v1-a"))
    registry.save(tiny_model("v2-b", weight=-1.0))
    registry.promote("v1-a")
    registry.promote("v2-b")
    model, warning = load_active_reward_model(settings)
    assert (model.version, warning) == ("v2-b", None)
    assert model.score(["dog dog", "cat"]).shape == (2,)
    assert registry.rollback() == "v1-a"
    assert load_active_reward_model(settings)[0].version == "v1-a"
    assert registry.rollback() is None  # back to the prior
    assert load_active_reward_model(settings)[0].version.startswith("prior-")
    with pytest.raises(RegistryError, match="no earlier active reward model"):
        registry.rollback()
    table = versions_table(settings)
    assert set(table["version"]) >= {"v1-a", "v2-b"}
    assert table.loc[table["version"].str.startswith("prior"), "active"].item()


def test_saving_twice_or_bad_names_is_refused(settings):
    registry = Registry(settings.reward_dir)
    registry.save(tiny_model("v1"))
    with pytest.raises(RegistryError, match="already exists"):
        registry.save(tiny_model("v1"))
    with pytest.raises(RegistryError, match="not a usable version name"):
        registry.save(tiny_model("../escape"))


def test_corrupted_model_file_falls_back_to_prior_with_warning(settings):
    registry = Registry(settings.reward_dir)
    registry.save(tiny_model("v1"))
    registry.promote("v1")
    registry.model_path("v1").write_bytes(b"garbage")
    model, warning = load_active_reward_model(settings)
    assert model.version.startswith("prior-")
    assert "v1 could not be loaded" in warning and "corrupted" in warning


def test_missing_model_file_falls_back_to_prior_with_warning(settings):
    registry = Registry(settings.reward_dir)
    registry.save(tiny_model("v1"))
    registry.promote("v1")
    registry.model_path("v1").unlink()
    model, warning = load_active_reward_model(settings)
    assert model.version.startswith("prior-") and "is missing" in warning


def test_corrupted_registry_falls_back_to_prior(settings):
    settings.reward_dir.mkdir(parents=True)
    (settings.reward_dir / "registry.json").write_text("{not json")
    model, warning = load_active_reward_model(settings)
    assert model.version.startswith("prior-") and "registry" in warning


def test_promoting_a_broken_file_is_refused(settings):
    registry = Registry(settings.reward_dir)
    registry.save(tiny_model("v1"))
    registry.model_path("v1").write_bytes(b"garbage")
    with pytest.raises(RewardModelFileError, match="corrupted"):
        registry.promote("v1")


def test_wrong_shapes_are_detected(tmp_path):
    model = tiny_model("v1")
    model.mean = np.zeros(10, np.float32)
    model.scale = np.ones(10, np.float32)
    model.save(tmp_path / "m.npz")
    with pytest.raises(RewardModelFileError, match="expects 10 inputs"):
        RewardModel.load(tmp_path / "m.npz")


class TestSelectDiverse:
    def test_zero_diversity_is_score_order(self):
        scores = [0.1, 0.9, 0.5]
        assert select_diverse(scores, np.eye(3), 3, 0.0) == [1, 2, 0]

    def test_near_duplicate_is_pushed_down(self):
        scores = [1.0, 0.99, 0.5]
        embeddings = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]])
        assert select_diverse(scores, embeddings, 2, 0.0) == [0, 1]
        assert select_diverse(scores, embeddings, 2, 0.5) == [0, 2]

    def test_k_larger_than_candidates_and_bad_diversity(self):
        assert sorted(select_diverse([1, 2], np.eye(2), 5)) == [0, 1]
        assert select_diverse([], np.zeros((0, 2)), 3) == []
        with pytest.raises(ValueError, match="between 0 and 1"):
            select_diverse([1], np.eye(1), 1, 2.0)


def test_surface_features_counts():
    table = surface_features(["WOW!! 3 dogs 🐶 and 12 cats?", "plain text"])
    first = table.iloc[0].to_dict()
    assert first == {
        "length": 27,
        "words": 6,
        "exclamation_marks": 2,
        "question_marks": 1,
        "all_caps_words": 1,
        "numbers": 2,
        "emoji": 1,
    }
    assert table.iloc[1]["emoji"] == 0


def test_scoring_more_texts_than_the_memo_holds(monkeypatch):
    monkeypatch.setattr("pushgen_core.reward.model._MEMO_SIZE", 2)
    model = tiny_model("v1")
    texts = ["a", "b b", "c c c", "d", "a"]
    scores = model.score(texts)
    assert scores.shape == (5,) and scores[0] == scores[4]
    assert len(model._memo) == 2


def test_promoting_an_unknown_version_lists_the_known_ones(settings):
    with pytest.raises(RegistryError, match="no reward model version named 'nosuch'"):
        Registry(settings.reward_dir).promote("nosuch")
