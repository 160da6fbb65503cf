"""Shared fixtures: isolated settings, a fresh label store, fake generator and scorer."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pushgen_core.config import Settings  # noqa: E402
from pushgen_core.pipeline import Catalog, Pipeline  # noqa: E402
from pushgen_core.store import LabelStore  # noqa: E402


def ab_data_path() -> Path:
    """The real Upworthy A/B file, or PUSHGEN_AB_DATA."""
    default = REPO.parent / "shared" / "data" / "upworthy-archive-exploratory-dev.csv"
    return Path(os.environ.get("PUSHGEN_AB_DATA", default))


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    """Settings whose cache, data and database live in a temporary folder."""
    monkeypatch.setenv("PUSHGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PUSHGEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PUSHGEN_DATABASE_URL", raising=False)
    return Settings.from_env()


@pytest.fixture
def fresh_store(settings) -> LabelStore:
    return LabelStore(settings.resolved_database_url)


@pytest.fixture
def catalog(settings) -> Catalog:
    return Catalog.from_settings(settings)


class FakeGenerator:
    """Returns canned completions in order, cycling; records what it was asked."""

    description = "fake-generator"
    model_name = "fake"

    def __init__(self, completions: list[str]):
        self.completions = completions
        self.calls: list[dict] = []

    def render_prompt(self, messages):
        return "\n".join(f"<{m['role']}> {m['content']}" for m in messages)

    def generate(
        self,
        messages,
        n=8,
        max_new_tokens=48,
        temperature=0.9,
        top_p=0.95,
        seed=None,
        on_progress=None,
    ):
        self.calls.append({"messages": messages, "n": n, "seed": seed})
        start = (len(self.calls) - 1) * n
        if on_progress:
            on_progress(max_new_tokens, max_new_tokens)
        return [self.completions[(start + i) % len(self.completions)] for i in range(n)]


class FakeScorer:
    """Scores by text length (longer wins) so rankings are predictable."""

    def __init__(self, version: str = "fake-v1", sign: float = 1.0):
        self.version = version
        self.sign = sign
        self.encoder = "fake"

    def score(self, texts):
        return np.array([self.sign * len(text) / 100 for text in texts])

    def embed(self, texts):
        vectors = np.array(
            [[text.count(c) + 1e-3 for c in "aeiou st"] for text in texts], dtype=float
        )
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


DISTINCT_COMPLETIONS = [
    "Title: A dog saved a child\nBody: The rescue at the lake took four minutes.",
    "Title: Meet the hero of Lake Park\nBody: Max the retriever pulled a boy to shore.",
    "Title: How Max became a hero\nBody: Neighbours tell the story of Sunday's rescue.",
    "Title: Four minutes at the lake\nBody: What happened when a boy slipped in the water.",
    "Title: This retriever deserves a medal\nBody: The fire chief said so himself.",
    "Title: Sunday at Lake Park\nBody: A swim ended with a lifeguard and a very good dog.",
    "Title: Would your dog do this?\nBody: Max didn't hesitate when he heard the splash.",
    "Title: Rescue caught on camera\nBody: A family's video shows the dog swimming out.",
]


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator(DISTINCT_COMPLETIONS)


@pytest.fixture
def pipeline(fake_generator, catalog) -> Pipeline:
    return Pipeline(fake_generator, FakeScorer(), catalog)
