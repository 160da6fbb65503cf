from pushgen_core.text import grapheme_len, reward_text, truncate_graphemes, utf8_len

FAMILY = "👨‍👩‍👧‍👦"  # one grapheme, 7 code points
THUMBS = "👍🏽"  # emoji + skin tone modifier
FLAG = "🇯🇵"


def test_grapheme_len_counts_what_readers_see():
    assert grapheme_len(FAMILY) == 1
    assert grapheme_len(THUMBS + FLAG) == 2
    assert grapheme_len("東京オリンピック") == 8
    assert grapheme_len("e\u0301") == 1  # e + combining acute


def test_utf8_len_counts_payload_bytes():
    assert utf8_len(FAMILY) == 25
    assert utf8_len("東京") == 6


def test_truncate_never_splits_a_cluster():
    text = "Hi " + FAMILY + FAMILY
    assert truncate_graphemes(text, 4) == "Hi " + FAMILY


def test_reward_text_joins_title_and_body():
    assert reward_text(" Title ", "Body") == "Title\nBody"
    assert reward_text("", "Body") == "Body"
