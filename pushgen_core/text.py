"""Text measures shared by filters, reward features and the UI.

Lengths are counted in grapheme clusters (what a reader sees as one character: an
emoji with skin tone, a ZWJ family, a flag, a CJK ideograph each count as one), with
the UTF-8 byte size kept separately for payload budgets.
"""

from __future__ import annotations

import unicodedata

import regex

_WORD = regex.compile(r"\w+", regex.UNICODE)
_GRAPHEME = regex.compile(r"\X")


def grapheme_len(text: str) -> int:
    """Number of user-perceived characters in ``text``."""
    return len(_GRAPHEME.findall(text))


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def truncate_graphemes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` grapheme clusters, never inside one."""
    return "".join(_GRAPHEME.findall(text)[:limit])


def normalize(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: the form used to compare texts."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def words(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


def reward_text(title: str, body: str) -> str:
    """The one string the reward model scores for a candidate (title, then body)."""
    title, body = title.strip(), body.strip()
    if title and body:
        return f"{title}\n{body}"
    return title or body


# Letters from other scripts that look like Latin ones (a subset of Unicode's
# confusables, UTS #39: the Cyrillic and Greek lowercase lookalikes seen in spam)
_LOOKALIKES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j",
        "ѕ": "s", "ԁ": "d", "ɡ": "g", "ο": "o", "α": "a", "ν": "v", "ι": "i",
        "κ": "k", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "‘": "'", "’": "'",
        "ʼ": "'", "`": "'", "´": "'",
    }
)  # fmt: skip


def strip_invisible(text: str) -> str:
    """``text`` without format characters (zero-width spaces, joiners, soft hyphens,
    bidi controls), keeping the joiners and tags that emoji sequences are made of."""
    return "".join(
        ch
        for ch in text
        if unicodedata.category(ch) != "Cf" or ch == "\u200d" or "\U000e0020" <= ch
    )


def skeleton(text: str) -> str:
    """The normalised text with invisible characters removed and lookalike letters
    mapped to Latin: the form banned terms are matched against."""
    return normalize(strip_invisible(text).replace("\u200d", "")).translate(_LOOKALIKES)
