import numpy as np
import pytest

from pushgen_core.errors import ConfigError, InputError
from pushgen_core.pipeline import GenerationOptions, Pipeline
from pushgen_core.prompt import Brief
from tests.conftest import DISTINCT_COMPLETIONS, FakeGenerator, FakeScorer

BRIEF = Brief(
    description="Max the retriever pulled a boy from Lake Park on Sunday.",
    category="news",
    styles=("curiosity", "emotional"),
)


def test_run_ranks_every_passing_candidate_across_styles(pipeline, fake_generator):
    result = pipeline.run(BRIEF, GenerationOptions(candidates_per_style=8, diversity=0))
    assert len(fake_generator.calls) == 2
    # 16 completions, 8 distinct: the second style's 8 repeat the first's
    assert len(result.ranked) == 8
    assert len(result.filtered) == 8
    assert {c.filtered_reason for c in result.filtered} == {
        f"duplicate of candidate {i}" for i in range(1, 9)
    }
    assert [c.rank for c in result.ranked] == list(range(1, 9))
    scores = [c.score for c in result.ranked]
    assert scores == sorted(scores, reverse=True)
    assert result.reward_version == "fake-v1"
    assert result.generator_model == "fake-generator"
    assert set(result.prompts) == {"curiosity", "emotional"}
    assert all(c.brief_id == result.brief_id for c in result.ranked)


def test_progress_reaches_one(pipeline):
    seen = []
    pipeline.run(BRIEF, on_progress=lambda fraction, message: seen.append(fraction))
    assert seen[-1] == 1.0
    assert seen == sorted(seen)


def test_seed_is_passed_per_style(pipeline, fake_generator):
    pipeline.run(BRIEF, GenerationOptions(seed=7))
    assert [call["seed"] for call in fake_generator.calls] == [7, 8]


def test_filtered_candidates_keep_their_reason(catalog):
    generator = FakeGenerator(
        [
            "Title: " + "Very long title " * 10 + "\nBody: ok",
            "Nothing useful",
            "",
            "Title: Win big\nBody: Click here to win.",
        ]
    )
    result = Pipeline(generator, FakeScorer(), catalog).run(
        Brief("An item.", "news", ("curiosity",), channel="ios"),
        GenerationOptions(candidates_per_style=4, max_rounds=1),
    )
    assert result.ranked == []
    assert [c.filtered_reason for c in result.filtered] == [
        "title too long (159/50 characters)",
        "no title",
        "empty",
        "banned term 'click here'",
    ]
    assert "Every candidate was filtered out" in result.warnings[0]


class TableScorer:
    """Scores and embeddings looked up by title, to plant a near-synonym pair."""

    version = "table"

    def __init__(self, table):
        self.table = table

    def score(self, texts):
        return np.array([self.table[text.split("\n")[0]][0] for text in texts])

    def embed(self, texts):
        return np.array([self.table[text.split("\n")[0]][1] for text in texts])


def test_diversity_moves_a_rewording_down_but_keeps_all(catalog):
    generator = FakeGenerator(
        [
            "Title: Dog saves boy\nBody: Max swam out on Sunday morning.",
            "Title: Retriever rescues child\nBody: A brave swim at Lake Park.",
            "Title: Bakery opens\nBody: Fresh bread from six.",
        ]
    )
    scorer = TableScorer(
        {
            "Dog saves boy": (3.0, [1.0, 0.0]),
            "Retriever rescues child": (2.9, [0.99, 0.14]),
            "Bakery opens": (1.0, [0.0, 1.0]),
        }
    )
    pipeline = Pipeline(generator, scorer, catalog)
    brief = Brief("x", "news", ("curiosity",))
    by_score = pipeline.run(
        brief, GenerationOptions(candidates_per_style=3, diversity=0)
    )
    diverse = pipeline.run(
        brief, GenerationOptions(candidates_per_style=3, diversity=0.7)
    )
    assert [c.title for c in by_score.ranked] == [
        "Dog saves boy",
        "Retriever rescues child",
        "Bakery opens",
    ]
    assert [c.title for c in diverse.ranked] == [
        "Dog saves boy",
        "Bakery opens",
        "Retriever rescues child",
    ]


def test_rescore_uses_the_new_reward_version(pipeline, catalog, fake_generator):
    result = pipeline.run(BRIEF, GenerationOptions(diversity=0))
    reversed_pipeline = Pipeline(fake_generator, FakeScorer("fake-v2", -1.0), catalog)
    rescored = reversed_pipeline.rescore(result, diversity=0)
    assert rescored.reward_version == "fake-v2"
    new_scores = [c.score for c in rescored.ranked]
    assert new_scores == sorted(new_scores, reverse=True)
    assert new_scores[0] == -min(c.score for c in result.ranked)
    assert result.ranked[0].rank == 1  # the original result is left untouched


@pytest.mark.parametrize(
    ("brief", "error", "message"),
    [
        (Brief("x", "weather", ("curiosity",)), ConfigError, "Unknown category"),
        (Brief("x", "news", ()), InputError, "Pick at least one copy style"),
        (Brief("x", "news", ("shouting",)), ConfigError, "Unknown style 'shouting'"),
        (
            Brief("x", "news", ("curiosity",), channel="fax"),
            InputError,
            "Unknown channel 'fax'",
        ),
        (Brief(" ", "news", ("curiosity",)), InputError, "item description is empty"),
    ],
)
def test_bad_briefs_say_what_to_fix(pipeline, brief, error, message):
    with pytest.raises(error, match=message):
        pipeline.run(brief)


def test_bad_options_say_the_range(pipeline):
    with pytest.raises(InputError, match="between 1 and 64"):
        pipeline.run(BRIEF, GenerationOptions(candidates_per_style=0))


def test_too_few_passing_candidates_triggers_another_round(catalog):
    generator = FakeGenerator(
        ["Title: [Title]\nBody: [Body]"] * 4 + DISTINCT_COMPLETIONS
    )
    pipeline = Pipeline(generator, FakeScorer(), catalog)
    options = GenerationOptions(candidates_per_style=4, min_ranked=6, max_rounds=3)
    result = pipeline.run(Brief("An item.", "news", ("curiosity",)), options)
    # round 1: 4 placeholders; round 2: 4 good; round 3: 4 good -> 8 >= 6
    assert len(generator.calls) == 3
    assert len(result.ranked) == 8
    assert [c.filtered_reason for c in result.filtered] == ["placeholder text"] * 4


def test_rounds_stop_at_max_rounds(catalog):
    generator = FakeGenerator(["Title: [Title]\nBody: [Body]"])
    pipeline = Pipeline(generator, FakeScorer(), catalog)
    options = GenerationOptions(candidates_per_style=2, min_ranked=8, max_rounds=2)
    result = pipeline.run(Brief("An item.", "news", ("curiosity",)), options)
    assert len(generator.calls) == 2 and len(result.filtered) == 4
    assert "Every candidate was filtered out" in result.warnings[0]


def test_fewer_than_wanted_says_so(catalog):
    generator = FakeGenerator(DISTINCT_COMPLETIONS[:3])
    pipeline = Pipeline(generator, FakeScorer(), catalog)
    options = GenerationOptions(candidates_per_style=3, min_ranked=8, max_rounds=2)
    result = pipeline.run(Brief("An item.", "news", ("curiosity",)), options)
    assert len(result.ranked) == 3
    assert result.warnings == [
        "Only 3 of 6 candidates passed the checks after 2 batches (see the filtered "
        "list). Generate again, or add styles, for more."
    ]
