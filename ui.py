"""Streamlit pieces shared by the pages: cached loaders and the sidebar settings.

Logic lives in ``pushgen_core``; this module only wires it to Streamlit's caches and
session state, and turns errors into messages.
"""

from __future__ import annotations

import streamlit as st

from pushgen_core.config import Settings
from pushgen_core.errors import PushGenError
from pushgen_core.model_files import ModelNotInstalledError
from pushgen_core.pipeline import Catalog
from pushgen_core.store import LabelStore

REVIEWER_KEY = "reviewer"
CHANNEL_KEY = "channel"
RESULT_KEY = "generation_result"


def settings() -> Settings:
    return Settings.from_env()


@st.cache_resource(show_spinner=False)
def catalog(settings_key: str) -> Catalog:
    return Catalog.from_settings(Settings.from_env())


@st.cache_resource(show_spinner="Loading the language model (first run converts it)...")
def generator(settings_key: str):
    from pushgen_core.services import load_generator

    return load_generator(Settings.from_env())


@st.cache_resource(show_spinner="Loading the reward model...")
def reward_model(settings_key: str, active_version: str = ""):
    from pushgen_core.services import load_reward_model

    return load_reward_model(Settings.from_env())


@st.cache_resource(show_spinner=False)
def label_store(url: str) -> LabelStore:
    return LabelStore(url)


def settings_key(current: Settings) -> str:
    """A cache key that changes when the configuration does."""
    return repr(current)


def stop_with_error(exc: Exception) -> None:
    """Show a configuration or input problem as a message and stop the page."""
    if isinstance(exc, ModelNotInstalledError):
        st.error(f"The language model is not installed. {exc}")
    elif isinstance(exc, PushGenError):
        st.error(str(exc))
    else:
        st.error(f"Unexpected error: {exc}")
    st.stop()


def reviewer() -> str:
    return st.session_state.get(REVIEWER_KEY, "").strip()


def channel() -> str:
    return st.session_state.get(CHANNEL_KEY, "android")


def active_reward_version(current: Settings) -> str:
    """A token that changes when a reward model version is promoted or rolled back."""
    from pushgen_core.reward import active_version_token

    return active_version_token(current)


def pipeline(key: str):
    """The pipeline with the cached generator and the active reward model."""
    from pushgen_core.pipeline import Pipeline

    current = Settings.from_env()
    scorer, _warning = reward_model(key, active_reward_version(current))
    return Pipeline(generator(key), scorer, catalog(key))


def pipeline_warnings(key: str) -> list[str]:
    """Warnings of the active reward model (e.g. it fell back to the shipped prior)."""
    current = Settings.from_env()
    _scorer, warning = reward_model(key, active_reward_version(current))
    return [warning] if warning else []
