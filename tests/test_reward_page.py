"""Smoke tests of the Reward model page with AppTest."""

from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit.testing.v1 import AppTest

from pushgen_core.reward.model import RewardModel
from pushgen_core.reward.registry import Registry
from tests.conftest import REPO

PAGE = str(REPO / "pages" / "3_reward_model.py")


def hashing_model(version: str) -> RewardModel:
    members = [[(np.linspace(-1, 1, 64, dtype=np.float32)[:, None], np.zeros(1))]]
    meta = {
        "created_at": "2026-12-04T10:00:00+00:00",
        "metrics": {
            "held_out": {"all": {"pairs": 10, "accuracy": 0.6, "auc": 0.62}},
            "learning_curve": [
                {"fraction": 0.5, "train_pairs": 5, "accuracy": 0.55},
                {"fraction": 1.0, "train_pairs": 10, "accuracy": 0.6},
            ],
            "calibration": [
                {"bin": "0.4-0.5", "predicted": 0.45, "observed": 0.4, "pairs": 3},
                {"bin": "0.5-0.6", "predicted": 0.55, "observed": 0.6, "pairs": 3},
            ],
        },
    }
    return RewardModel(
        version, "hashing", (0,), False, np.zeros(64), np.ones(64), members, meta
    )


def test_page_renders_with_the_prior(settings):
    st.cache_resource.clear()
    at = AppTest.from_file(PAGE).run()
    assert not at.exception
    assert any("Reward model" in h.value for h in at.header)
    assert "prior-" in at.caption[0].value

    # Nothing to roll back to: a message, not a traceback
    [b for b in at.button if b.label == "Roll back"][0].click()
    at = at.run()
    assert not at.exception
    assert "no earlier active reward model" in at.error[0].value


def test_page_lists_versions_and_warns_on_a_corrupted_active_model(settings):
    registry = Registry(settings.reward_dir)
    registry.save(hashing_model("v1-test"))
    registry.promote("v1-test")
    st.cache_resource.clear()
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    assert "v1-test" in at.caption[0].value
    assert "v1-test" in list(at.dataframe[0].value["version"])

    # Gaming check with the hashing model: no encoder download needed
    analyse = [b for b in at.button if b.label == "Analyse candidates"][0]
    analyse.click()
    at = at.run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert {"score", "exclamation_marks", "top-k rank"} <= set(table.columns)

    registry.model_path("v1-test").write_bytes(b"broken")
    st.cache_resource.clear()
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    assert "could not be loaded" in at.warning[0].value
    st.cache_resource.clear()
