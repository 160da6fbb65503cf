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
