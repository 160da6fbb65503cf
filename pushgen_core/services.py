"""Build the expensive pieces (generator, reward model, pipeline) from settings.

The app wraps these in ``st.cache_resource``; the CLI calls them once per run.
"""

from __future__ import annotations

import logging

from pushgen_core.config import Settings
from pushgen_core.pipeline import Catalog, Pipeline

logger = logging.getLogger(__name__)


def load_generator(settings: Settings):
    """The configured LLM, converted and quantized on first use."""
    from pushgen_core.llm import load_generator as load

    return load(settings)


def load_reward_model(settings: Settings):
    """The active reward model and a warning to show if it fell back to the prior."""
    from pushgen_core.reward import load_active_reward_model

    return load_active_reward_model(settings)


def build_pipeline(settings: Settings) -> tuple[Pipeline, list[str]]:
    """A ready pipeline and the warnings the user should see."""
    catalog = Catalog.from_settings(settings)
    generator = load_generator(settings)
    reward_model, warning = load_reward_model(settings)
    warnings = [warning] if warning else []
    return Pipeline(generator, reward_model, catalog), warnings
