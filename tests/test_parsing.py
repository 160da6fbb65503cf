import time

import pytest

from pushgen_core.parsing import parse_candidate

CASES = [
    (
        "Title: Dog saves boy\nBody: It happened at the lake.",
        ("Dog saves boy", "It happened at the lake."),
    ),
    (
        'Title: "Dog saves boy"\nBody: "It happened at the lake."',
        ("Dog saves boy", "It happened at the lake."),
    ),
    (
        "**Title:** Dog saves boy\n**Body:** It happened at the lake.",
        ("Dog saves boy", "It happened at the lake."),
    ),
    (
        "Sure! Here's a push notification:\n\nTitle: Dog saves boy\nBody: At the lake.",
        ("Dog saves boy", "At the lake."),
    ),
    (
        "Headline: Dog saves boy\nMessage: At the lake.",
        ("Dog saves boy", "At the lake."),
    ),
    (
        "Title: Dog saves boy\nBody: At the lake.<|im_end|>\n<|im_start|>assistant\nTitle: x",
        ("Dog saves boy", "At the lake."),
    ),
    (
        "Dog saves boy\nIt happened at the lake.",
        ("Dog saves boy", "It happened at the lake."),
    ),
    (
        "Dog saves boy. It happened at the lake.",
        ("Dog saves boy.", "It happened at the lake."),
    ),
    ("Body: It happened at the lake.", ("", "It happened at the lake.")),
    (
        "Title: 東京で犬が少年を救助\nBody: 日曜日の湖での出来事。",
        ("東京で犬が少年を救助", "日曜日の湖での出来事。"),
    ),
    (
        "Title: Family day 👨‍👩‍👧‍👦\nBody: Tickets inside 🎟️",
        ("Family day 👨‍👩‍👧‍👦", "Tickets inside 🎟️"),
    ),
    (
        "Title: Dog saves boy\nBody: It happened at the lake.\nItem: The model ran on",
        ("Dog saves boy", "It happened at the lake."),
    ),
    (
        "1. Title: Dog saves boy\n2. Body: At the lake.",
        ("Dog saves boy", "At the lake."),
    ),
    (
        "Title: Dog saves boy\n\nAt the lake on Sunday.",
        ("Dog saves boy", "At the lake on Sunday."),
    ),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_parse_candidate(raw, expected):
    assert parse_candidate(raw) == expected


@pytest.mark.parametrize("raw", ["", "   \n  ", "<|im_end|>", None])
def test_nothing_usable_gives_empty_texts(raw):
    assert parse_candidate(raw) == ("", "")


def test_turn_start_marker_is_stripped_not_split_on():
    assert parse_candidate("<|im_start|>assistant\nTitle: A\nBody: B") == ("A", "B")


@pytest.mark.parametrize("line", [" " * 10_000 + "x", "*" * 5000 + ":", "1." * 3000])
def test_pathological_lines_parse_quickly(line):
    start = time.perf_counter()
    parse_candidate(line + "\nTitle: A\nBody: B")
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Max swam out. He then", "Max swam out."),
        ("Is it true? The issue is not just the ocean, but", "Is it true?"),
        ('She said "yes." And the', 'She said "yes."'),
        (
            "The issue is not just the ocean, but",
            "The issue is not just the ocean, but",
        ),
        ("Tickets inside 🎟️", "Tickets inside 🎟️"),
        ("Two sentences. Both finished.", "Two sentences. Both finished."),
    ],
)
def test_cut_off_sentence_after_a_finished_one_is_dropped(body, expected):
    assert parse_candidate(f"Title: T\nBody: {body}") == ("T", expected)
