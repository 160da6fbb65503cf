"""Checks every candidate must pass before it is ranked.

A candidate that fails is never dropped silently: ``check_candidates`` returns a reason
for it, and the app lists it under "filtered". Lengths are grapheme clusters (an emoji
ZWJ family is one character) and the payload budget is UTF-8 bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import regex

from pushgen_core.taxonomy import ChannelProfile
from pushgen_core.text import (
    grapheme_len,
    normalize,
    skeleton,
    strip_invisible,
    utf8_len,
    words,
)

NEAR_DUPLICATE_SIMILARITY = 0.8
_GRAPHEME = regex.compile(r"\X")
# Control characters and bidi overrides, which can hide or reorder text
_CONTROL = regex.compile(r"[\p{Cc}\u202a-\u202e\u2066-\u2069]")
_FILLERS = str.maketrans("", "", "\u3164\u115f\u1160\uffa0\u2800")
_HASHTAG = regex.compile(r"(?<![\p{L}\p{N}&])#[\p{L}_][\p{L}\p{N}_]*")
_PLACEHOLDER = regex.compile(r"\[[^\]]{0,40}\]|\{[^}]{0,40}\}|<[^>]{0,40}>")
_REPEATED_RUN = regex.compile(r"(\X{1,8}?)\1{4,}")
_REPEATED_WORD = regex.compile(
    r"(?<![\p{L}\p{N}])([\p{L}\p{N}]+)(?:[^\p{L}\p{N}]+\1(?![\p{L}\p{N}])){2,}",
    regex.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    """The outcome of the checks for one candidate; ``reason`` is empty when it passed."""

    reason: str = ""

    @property
    def passed(self) -> bool:
        return not self.reason


def _visible(text: str) -> str:
    """What a reader would see: no format characters, fillers or whitespace."""
    return "".join(strip_invisible(text).translate(_FILLERS).split())


def char_ngrams(text: str, n: int = 3) -> set[str]:
    """Grapheme n-grams of the normalised text (works for CJK text without spaces)."""
    graphemes = _GRAPHEME.findall(normalize(text))
    if len(graphemes) < n:
        return {"".join(graphemes)} if graphemes else set()
    return {"".join(graphemes[i : i + n]) for i in range(len(graphemes) - n + 1)}


def similarity(first: str, second: str) -> float:
    """Jaccard similarity of grapheme trigrams, 0 to 1."""
    a, b = char_ngrams(first), char_ngrams(second)
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def is_degenerate(text: str) -> bool:
    """True for runaway repetition: "!!!!!", "hahahahaha", "the the the"."""
    if _REPEATED_RUN.search(text) or _REPEATED_WORD.search(text):
        return True
    graphemes = _GRAPHEME.findall(normalize(text))
    if len(graphemes) >= 24:
        trigrams = [tuple(graphemes[i : i + 3]) for i in range(len(graphemes) - 2)]
        return len(set(trigrams)) / len(trigrams) < 0.4
    return False


def _banned_pattern(term: str) -> re.Pattern[str]:
    # Apostrophes and spaces optional: "you wont believe", "100%free", "clickhere"
    parts = []
    for ch in skeleton(term):
        if ch == "'":
            parts.append("'?")
        elif ch.isspace():
            parts.append(r"\s*")
        else:
            parts.append(re.escape(ch))
    pattern = "".join(parts)
    if term.isascii():
        return re.compile(rf"(?<!\w){pattern}(?!\w)")
    return re.compile(pattern)


def find_banned(text: str, banned_terms: Sequence[str]) -> str | None:
    """The first banned term in ``text``, or None.

    Matching is case-insensitive, on whole words, and sees through zero-width
    characters, curly apostrophes, full-width letters and Cyrillic or Greek lookalikes.
    """
    visible = skeleton(text)
    for term in banned_terms:
        if term.strip() and _banned_pattern(term).search(visible):
            return term
    return None


def _repeats(title: str, body: str) -> bool:
    """The body restates the title (a short title inside a body is fine)."""
    if similarity(title, body) >= 0.8:
        return True
    return grapheme_len(title) >= 15 and normalize(title) in normalize(body)


def has_placeholder(text: str) -> bool:
    """True for template leftovers: "[Name]", "{title}", "<item>", or only dots."""
    if _PLACEHOLDER.search(text):
        return True
    return not any(ch.isalnum() for ch in text)


def _word_ngrams(text: str, n: int = 4) -> set[tuple[str, ...]]:
    tokens = words(text)
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def copies_example(title: str, body: str, examples: Sequence[str]) -> bool:
    """True when the title or body repeats one of the prompt's example texts, whole,
    nearly, or by a run of four of its words ("She waited 40 years ...")."""
    title, body = normalize(title), normalize(body)
    candidate_ngrams = _word_ngrams(title) | _word_ngrams(body)
    for example in examples:
        example = normalize(example)
        if not example:
            continue
        if candidate_ngrams & _word_ngrams(example):
            return True
        for part in (title, body):
            if example in part or (part and similarity(part, example) >= 0.7):
                return True
    return False


def check_text(
    title: str,
    body: str,
    channel: ChannelProfile,
    banned_terms: Sequence[str],
    examples: Sequence[str] = (),
) -> str:
    """The reason one title + body fails its channel's rules, or "" when it passes."""
    if _CONTROL.search(title) or _CONTROL.search(body):
        return "control characters"
    title_visible, body_visible = _visible(title), _visible(body)
    if not title_visible and not body_visible:
        return "empty"
    if not title_visible:
        return "no title"
    if not body_visible:
        return "no body"
    title_len, body_len = grapheme_len(title), grapheme_len(body)
    if title_len > channel.title_max:
        return f"title too long ({title_len}/{channel.title_max} characters)"
    if body_len > channel.body_max:
        return f"body too long ({body_len}/{channel.body_max} characters)"
    payload = utf8_len(title) + utf8_len(body)
    if payload > channel.payload_bytes:
        return f"payload too large ({payload}/{channel.payload_bytes} UTF-8 bytes)"
    if is_degenerate(title) or is_degenerate(body):
        return "degenerate repetition"
    if _repeats(title, body):
        return "body repeats the title"
    if has_placeholder(title) or has_placeholder(body):
        return "placeholder text"
    if copies_example(title, body, examples):
        return "copies a prompt example"
    if _HASHTAG.search(title) or _HASHTAG.search(body):
        return "hashtags"
    banned = find_banned(f"{title}\n{body}", banned_terms)
    if banned:
        return f"banned term '{banned}'"
    return ""


def check_candidates(
    texts: Sequence[tuple[str, str]],
    channel: ChannelProfile,
    banned_terms: Sequence[str],
    examples: Sequence[str] = (),
    near_duplicate_similarity: float = NEAR_DUPLICATE_SIMILARITY,
) -> list[Verdict]:
    """One verdict per ``(title, body)``, in order; later copies lose to earlier ones.

    ``examples`` are the example texts shown in the prompt: a candidate that parrots
    one is filtered, since it is not about the item.
    """
    verdicts: list[Verdict] = []
    kept: list[tuple[int, str]] = []
    for index, (title, body) in enumerate(texts):
        reason = check_text(title, body, channel, banned_terms, examples)
        if not reason:
            combined = f"{title}\n{body}"
            for kept_index, kept_text in kept:
                if normalize(kept_text) == normalize(combined):
                    reason = f"duplicate of candidate {kept_index + 1}"
                    break
                if similarity(kept_text, combined) >= near_duplicate_similarity:
                    reason = f"near-duplicate of candidate {kept_index + 1}"
                    break
            if not reason:
                kept.append((index, combined))
        verdicts.append(Verdict(reason))
    return verdicts
