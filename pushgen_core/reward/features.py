"""Surface features of candidate texts, to see whether the reward model is being gamed.

A reward model trained on clicks can learn that exclamation marks, capitals, numbers or
questions win. These counts let the page plot the score against each feature; the
reward head also reads them (standardised) next to the text embedding.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import regex

from pushgen_core.text import grapheme_len

SURFACE_FEATURES = [
    "length",
    "words",
    "exclamation_marks",
    "question_marks",
    "all_caps_words",
    "numbers",
    "emoji",
]

_WORD = regex.compile(r"\b[\p{L}\p{N}']+\b")
_CAPS_WORD = regex.compile(r"\b\p{Lu}{2,}\b")
_NUMBER = regex.compile(r"\p{N}+(?:[.,]\p{N}+)*")
_EMOJI = regex.compile(r"\X")
_PICTOGRAPHIC = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}]")


def _emoji_count(text: str) -> int:
    return sum(1 for g in _EMOJI.findall(text) if _PICTOGRAPHIC.search(g))


def surface_features(texts: list[str]) -> pd.DataFrame:
    """One row per text: length (graphemes), words, '!', '?', ALL-CAPS words,
    numbers and emoji, as counts."""
    rows = [
        {
            "length": grapheme_len(text),
            "words": len(_WORD.findall(text)),
            "exclamation_marks": text.count("!") + text.count("\uff01"),
            "question_marks": text.count("?") + text.count("\uff1f"),
            "all_caps_words": len(_CAPS_WORD.findall(text)),
            "numbers": len(_NUMBER.findall(text)),
            "emoji": _emoji_count(text),
        }
        for text in texts
    ]
    return pd.DataFrame(rows, columns=SURFACE_FEATURES, dtype="int64")


def surface_matrix(texts: list[str]) -> np.ndarray:
    """Surface features as model inputs, (n, 7) float32: counts squashed by log1p."""
    counts = surface_features(texts).to_numpy(dtype=np.float64)
    return np.log1p(counts).astype(np.float32)


def feature_effects(scores: np.ndarray, texts: list[str]) -> pd.DataFrame:
    """Per surface feature: correlation of the score with it across ``texts``."""
    table = surface_features(texts)
    effects = []
    for name in SURFACE_FEATURES:
        values = table[name].to_numpy(dtype=float)
        if len(texts) < 3 or values.std() == 0 or np.std(scores) == 0:
            corr = math.nan
        else:
            corr = float(np.corrcoef(values, scores)[0, 1])
        effects.append({"feature": name, "mean": values.mean(), "correlation": corr})
    return pd.DataFrame(effects)


SURFACE_PROBES = {
    "add '!'": lambda text: text.rstrip() + "!",
    "add '!!!'": lambda text: text.rstrip(" .!?") + "!!!",
    "first word in CAPS": lambda text: " ".join(
        [text.split(" ", 1)[0].upper()] + text.split(" ", 1)[1:]
    ),
    "turn into a question": lambda text: text.rstrip(" .!?") + "?",
    "start with a number": lambda text: "7 " + text,
    "add an emoji": lambda text: text.rstrip() + " 🔥",
    "double the length": lambda text: f"{text} {text}",
}


def surface_probes(score, texts: list[str]) -> pd.DataFrame:
    """How the score moves when each candidate gets a surface edit.

    ``score`` maps a list of texts to scores. Returns one row per (candidate, probe)
    with the score change; a large positive mean for '!!!' or CAPS is a sign the
    reward model can be gamed by typography rather than content.
    """
    base = np.asarray(score(texts), dtype=np.float64)
    edited, keys = [], []
    for name, edit in SURFACE_PROBES.items():
        for i, text in enumerate(texts):
            edited.append(edit(text))
            keys.append((name, i))
    moved = np.asarray(score(edited), dtype=np.float64)
    return pd.DataFrame(
        [
            {"probe": name, "candidate": i, "delta": moved[j] - base[i]}
            for j, (name, i) in enumerate(keys)
        ]
    )
