import pytest

from pushgen_core.errors import InputError
from pushgen_core.prompt import MAX_FACTS_CHARS, Brief, build_messages, item_facts


def test_prompt_grounds_in_facts_and_steers_category_style_and_limits(catalog):
    brief = Brief(
        description="<p>Max the retriever pulled a boy from Lake Park on Sunday.</p>",
        category="news",
        styles=("curiosity",),
        channel="ios",
    )
    taxonomy = catalog.taxonomy
    messages = build_messages(
        brief,
        taxonomy.category("news"),
        taxonomy.style("curiosity"),
        catalog.channel("ios"),
    )
    assert [m["role"] for m in messages] == ["system", "user"]
    request = messages[1]["content"]
    assert "Max the retriever pulled a boy from Lake Park on Sunday." in request
    assert "<p>" not in request
    assert taxonomy.category("news").instruction in request
    assert taxonomy.style("curiosity").instruction in request
    assert taxonomy.style("curiosity").examples[0].title in request
    assert "title at most 50 characters" in request
    assert "body at most 120 characters" in request
    assert request.rstrip().endswith("Title: ...\nBody: ...")


def test_different_styles_give_different_prompts(catalog):
    brief = Brief("A new phone with a 5-day battery.", "tech", ("question", "humour"))
    taxonomy, channel = catalog.taxonomy, catalog.channel("android")
    category = taxonomy.category("tech")
    first = build_messages(brief, category, taxonomy.style("question"), channel)
    second = build_messages(brief, category, taxonomy.style("humour"), channel)
    assert first != second


def test_item_facts_unescape_html_and_collapse_whitespace():
    assert item_facts("<p>Tom &amp; Jerry</p>\n\n<b>return</b>") == "Tom & Jerry return"


def test_item_facts_cap_long_text_at_a_word():
    facts = item_facts("word " * 1000)
    assert len(facts) <= MAX_FACTS_CHARS
    assert facts.endswith("word")


@pytest.mark.parametrize("description", ["", "   ", "<p> </p>"])
def test_empty_item_says_what_to_paste(description):
    with pytest.raises(InputError, match="item description is empty"):
        item_facts(description)
