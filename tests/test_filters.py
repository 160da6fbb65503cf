import pytest

from pushgen_core.filters import (
    check_candidates,
    check_text,
    find_banned,
    is_degenerate,
    similarity,
)
from pushgen_core.taxonomy import ChannelProfile

IOS = ChannelProfile("ios", "iOS", title_max=10, body_max=20, payload_bytes=60)
BANNED = ("click here", "免费")
FAMILY = "👨‍👩‍👧‍👦"


def reason(title, body, channel=IOS):
    return check_text(title, body, channel, BANNED)


def test_within_limits_passes():
    assert reason("Dog saves", "A boy at the lake.") == ""


def test_limits_count_graphemes_not_code_points():
    # "Team 👨‍👩‍👧‍👦 fun" is 10 characters but 16 code points
    wide = ChannelProfile("x", "x", 10, 20, 10_000)
    assert len("Team " + FAMILY + " fun") == 16
    assert reason("Team " + FAMILY + " fun", "ok", wide) == ""
    assert reason("Team " + FAMILY + " fun!", "ok", wide) == (
        "title too long (11/10 characters)"
    )


def test_cjk_body_over_limit():
    assert reason("东京", "东" * 21) == "body too long (21/20 characters)"


def test_payload_budget_counts_utf8_bytes():
    # 3 families = 3 characters but 75 bytes, over a 60-byte payload
    assert reason("Hi", FAMILY * 3) == "payload too large (77/60 UTF-8 bytes)"


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [("", "", "empty"), ("  ", "Body", "no title"), ("Title", " ", "no body")],
)
def test_empty_parts(title, body, expected):
    assert reason(title, body) == expected


@pytest.mark.parametrize(
    "text",
    ["Wow!!!!!!!!", "hahahahahaha", "the the the end", "😂😂😂😂😂😂", "好好好好好好"],
)
def test_degenerate_repetition(text):
    assert is_degenerate(text)


@pytest.mark.parametrize(
    "text", ["Dog saves boy!", "Meet the team", "東京オリンピック開幕", "Nice 👍🏽"]
)
def test_normal_text_is_not_degenerate(text):
    assert not is_degenerate(text)


def test_degenerate_candidate_is_filtered():
    assert reason("Wow", "!!!!!!!!") == "degenerate repetition"


def test_banned_terms_whole_words_case_insensitive_and_cjk():
    assert find_banned("CLICK HERE now", BANNED) == "click here"
    assert find_banned("Clickhere", BANNED) == "click here"
    assert find_banned("Clicks here", BANNED) is None
    assert find_banned("今天免费送", BANNED) == "免费"
    assert reason("Free", "Click here!") == "banned term 'click here'"


def test_duplicates_and_near_duplicates_point_to_the_first():
    channel = ChannelProfile("a", "Android", 65, 240, 600)
    texts = [
        ("Dog saves boy at lake", "Max the retriever swam out on Sunday."),
        ("Dog saves boy at lake", "Max the retriever swam out on Sunday."),
        ("Dog saves boy at lake!", "Max the retriever swam out on Sunday"),
        (
            "Dog saves boy at lake",
            "Max the retriever swam out on Sunday.",
        ),
        ("A chef opens a bakery", "Fresh bread every morning from 6 am."),
    ]
    verdicts = check_candidates(texts, channel, ())
    assert [v.reason for v in verdicts] == [
        "",
        "duplicate of candidate 1",
        "near-duplicate of candidate 1",
        "duplicate of candidate 1",
        "",
    ]


def test_near_duplicate_works_without_spaces():
    assert similarity("東京で犬が少年を救助した", "東京で犬が少年を救助した!") > 0.8
    assert similarity("東京で犬が少年を救助した", "大阪のパン屋が開店") < 0.2


def test_every_candidate_gets_a_verdict_in_order():
    texts = [("", ""), ("Ok", "Fine"), ("x" * 11, "y")]
    verdicts = check_candidates(texts, IOS, BANNED)
    assert [v.passed for v in verdicts] == [False, True, False]


@pytest.mark.parametrize(
    ("title", "body"),
    [
        ("[Title]", "[Body]"),
        ("Cher", "[Name] 2016/1/23"),
        ("...", "Real body"),
        ("Hello {name}", "Body"),
        ("Title", "<item>"),
    ],
)
def test_template_placeholders_are_filtered(title, body):
    assert reason(title, body, ChannelProfile("a", "A", 65, 240, 600)) == (
        "placeholder text"
    )


def test_parroting_a_prompt_example_is_filtered():
    examples = (
        "She waited 40 years for this call",
        "And it's the reason 3,000 people visit every spring.",
    )
    wide = ChannelProfile("a", "A", 65, 240, 600)
    assert (
        check_text(
            "She waited 40 years for this call", "A new story.", wide, (), examples
        )
        == "copies a prompt example"
    )
    assert (
        check_text(
            "65: The cure",
            "And it's the reason 3,000 people visit every spring.",
            wide,
            (),
            examples,
        )
        == "copies a prompt example"
    )
    assert (
        check_text("A new cure at 65", "Doctors explain the trial.", wide, (), examples)
        == ""
    )


def test_body_that_repeats_the_title_is_filtered():
    wide = ChannelProfile("a", "A", 65, 240, 600)
    title = "35 People Attend 500 People in Japan"
    assert check_text(title, title, wide, ()) == "body repeats the title"
    assert check_text(title, title + " and more", wide, ()) == "body repeats the title"
    assert check_text(title, "A festival in Osaka.", wide, ()) == ""
    assert check_text("Hero", "A hero dog swam out.", wide, ()) == ""


@pytest.mark.parametrize(
    "text",
    [
        "click\u200bhere",
        "click\u2060here",
        "click\ufeffhere",
        "cli\u00adck here",
        "ＣＬＩＣＫ ＨＥＲＥ",
        "clіck here",  # Cyrillic i
        "сlick hеre",  # Cyrillic s and e
    ],
)
def test_banned_terms_see_through_disguises(text):
    assert find_banned(text, BANNED) == "click here"


def test_banned_apostrophes_and_spaces_are_optional():
    terms = ("you won't believe", "100% free")
    assert find_banned("You won’t believe it", terms) == "you won't believe"
    assert find_banned("you wont believe", terms) == "you won't believe"
    assert find_banned("100%free", terms) == "100% free"


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        ("\u3164", "\u3164\u3164", "empty"),
        ("\u200b\u200b", "Body", "no title"),
        ("Title\x00", "Body", "control characters"),
        ("Title", "evil\u202etxt.exe", "control characters"),
        ("Title\x1b[31m", "Body", "control characters"),
    ],
)
def test_invisible_and_control_characters(title, body, expected):
    assert check_text(title, body, ChannelProfile("a", "A", 65, 240, 600), ()) == (
        expected
    )


def test_emoji_sequences_are_not_invisible():
    wide = ChannelProfile("a", "A", 65, 240, 600)
    assert check_text("Family day " + FAMILY, "Flags: 🏴󠁧󠁢󠁳󠁣󠁴󠁿 and ❤️", wide, ()) == ""


def test_a_run_of_four_example_words_is_a_copy():
    examples = (
        "She waited 40 years for this call",
        "How 23 kids raised money for their teacher's surgery.",
    )
    wide = ChannelProfile("a", "A", 65, 240, 600)
    assert (
        check_text(
            "She waited 40 years for a class to make her proud",
            "How 23 kids raised money for a student surgery",
            wide,
            (),
            examples,
        )
        == "copies a prompt example"
    )
    assert (
        check_text(
            "She waited for the Grammys", "Her album won at last.", wide, (), examples
        )
        == ""
    )


def test_hashtags_are_filtered_but_numbers_are_not():
    wide = ChannelProfile("a", "A", 65, 240, 600)
    assert check_text("Big night", "#FuckingWithIt #30 Years", wide, ()) == "hashtags"
    assert check_text("We're #1 again", "Top of the charts.", wide, ()) == ""
